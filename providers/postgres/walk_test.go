package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// TestQueryWalkUnderConcurrentChurn walks a collection in small pages while
// writers add and delete keys all around the stable ones, before, between
// and after them in key order: every stable key comes exactly once.
func TestQueryWalkUnderConcurrentChurn(t *testing.T) {
	ctx := context.Background()
	db := open(t, srv.URL("postgres"), "postgres.table", freshTable())
	const stable = 1500
	for i := range stable {
		if err := db.Set(ctx, "w", fmt.Sprintf("s%05d", i), []byte("stable")); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Keys that sort among the stable ones ("s00042x") and
				// around them ("a...", "z...").
				k := fmt.Sprintf("s%05dx%d", (i*37+w*101)%stable, w)
				for _, key := range []string{k, fmt.Sprintf("a%d-%d", w, i), fmt.Sprintf("z%d-%d", w, i)} {
					_ = db.Set(ctx, "w", key, []byte("churn"))
				}
				if i%2 == 1 {
					_, _ = db.Delete(ctx, "w", k)
				}
			}
		}()
	}
	seen := providertest.WalkKeys(t, db, "w", providers.Query{Limit: 13, Filter: "stable"}, 10*stable, nil)
	close(stop)
	wg.Wait()
	for i := range stable {
		if k := fmt.Sprintf("s%05d", i); seen[k] != 1 {
			t.Fatalf("stable key %s seen %d times, want exactly once", k, seen[k])
		}
	}
	if len(seen) != stable {
		t.Fatalf("the walk returned %d keys, want the %d stable ones (the filter keeps only them)", len(seen), stable)
	}
}

// TestQueryMaxBytes: a page ends before the row that would take it past
// MaxBytes of keys and values (holding at least one row), and a walk in
// such pages still returns every row once.
func TestQueryMaxBytes(t *testing.T) {
	ctx := context.Background()
	db := open(t, srv.URL("postgres"), "postgres.table", freshTable())
	value := make([]byte, 98)
	for i := range 10 {
		if err := db.Set(ctx, "m", fmt.Sprintf("k%d", i), value); err != nil { // 100 bytes with the key
			t.Fatal(err)
		}
	}
	page, err := db.Query(ctx, "m", providers.Query{Limit: 5, MaxBytes: 250})
	if err != nil || len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("a page of at most 250 bytes: %d items, cursor %q, %v; want 2 and a cursor", len(page.Items), page.NextCursor, err)
	}
	for _, maxBytes := range []int64{1, 250, 1000} {
		seen := providertest.WalkKeys(t, db, "m", providers.Query{Limit: 4, MaxBytes: maxBytes}, 20, func(_ int, page providers.Page) {
			if len(page.Items) == 0 || int64(len(page.Items)) > max(1, maxBytes/100) {
				t.Fatalf("MaxBytes %d: a page of %d items", maxBytes, len(page.Items))
			}
		})
		if len(seen) != 10 {
			t.Fatalf("MaxBytes %d: the walk saw %v", maxBytes, seen)
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("MaxBytes %d: %s seen %d times", maxBytes, k, n)
			}
		}
	}
}
