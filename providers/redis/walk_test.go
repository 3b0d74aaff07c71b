package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/redis"
)

// TestQueryWalkLargeHashUnderChurn walks a collection large enough for Redis
// to keep it as a real hash table (not a listpack), with small pages, while
// other writers add and remove keys between pages so that the table's
// buckets fill, empty and the table grows and shrinks under the walk. Every
// key present for the whole walk must come exactly once; when the table
// shrinks to a tenth of its size mid-walk, a key may come twice (as with
// SCAN itself) but none may be missed.
func TestQueryWalkLargeHashUnderChurn(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name     string
		stable   int
		limit    int
		add, del int
		repeats  bool // the table shrinks: repeats are allowed, misses are not
	}{
		{"buckets-change", 600, 7, 5, 5, false},
		{"grows", 300, 5, 40, 0, false},
		{"shrinks", 120, 3, 0, 200, true},
		{"limit-1", 400, 1, 3, 3, false},
		{"big-pages", 1500, 100, 200, 150, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL(0), Settings: settings("redis.key_prefix", "walk-"+tc.name)})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for i := range tc.stable {
				if err := db.Set(ctx, "w", fmt.Sprintf("s%05d", i), []byte("stable")); err != nil {
					t.Fatal(err)
				}
			}
			// Keys to delete while walking (for "shrinks", many).
			churn := 0
			if tc.del > 0 && tc.add == 0 {
				for i := range 4000 {
					_ = db.Set(ctx, "w", fmt.Sprintf("x%05d", i), []byte("doomed"))
				}
			}
			deleted := 0
			seen := map[string]int{}
			cursor := ""
			deadline := time.Now().Add(60 * time.Second)
			for page := 0; ; page++ {
				p, err := db.Query(ctx, "w", providers.Query{Limit: tc.limit, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) > tc.limit {
					t.Fatalf("page of %d items, limit %d", len(p.Items), tc.limit)
				}
				for _, it := range p.Items {
					seen[it.Key]++
				}
				for i := 0; i < tc.add && page < 40; i++ {
					_ = db.Set(ctx, "w", fmt.Sprintf("n%06d", churn), []byte("new"))
					churn++
				}
				for range tc.del {
					if tc.add == 0 {
						if deleted < 4000 {
							_, _ = db.Delete(ctx, "w", fmt.Sprintf("x%05d", deleted))
							deleted++
						}
					} else if deleted < churn {
						_, _ = db.Delete(ctx, "w", fmt.Sprintf("n%06d", deleted))
						deleted++
					}
				}
				if p.NextCursor == "" {
					break
				}
				cursor = p.NextCursor
				if time.Now().After(deadline) {
					t.Fatal("walk does not end")
				}
			}
			bad := 0
			for i := range tc.stable {
				k := fmt.Sprintf("s%05d", i)
				if seen[k] != 1 && !(tc.repeats && seen[k] > 1) {
					bad++
					if bad <= 5 {
						t.Errorf("stable key %s seen %d times, want exactly once", k, seen[k])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d stable keys not seen exactly once", bad, tc.stable)
			}
		})
	}
}

// TestQueryByteBound: pages end before the item that would pass
// Query.MaxBytes (a first item always fits), and a walk in such pages
// returns every key once, also where entries expire along the way.
func TestQueryByteBound(t *testing.T) {
	srv := redistest.Start(t)
	byteBoundWalk(t, srv.URL(0))
}

func byteBoundWalk(t *testing.T, url string) {
	ctx := context.Background()
	db := openDB(t, url, "redis.key_prefix", "bytes").(providers.Expiring)
	const n = 400
	for i := range n {
		value := make([]byte, 10+i%90) // keys of 4 bytes: items of 14 to 103 bytes
		var w providers.Write
		if i%4 == 3 {
			w.TTL = 150 * time.Millisecond // gone before the walk
		}
		if _, err := db.Put(ctx, "c", fmt.Sprintf("k%03d", i), value, w); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, max := range []int64{1, 100, 1000} {
		seen := providertest.WalkKeys(t, db, "c", providers.Query{Limit: 50, MaxBytes: max}, 2*n, func(_ int, p providers.Page) {
			size := int64(0)
			for _, it := range p.Items {
				size += int64(len(it.Key) + len(it.Value))
			}
			if (size > max && len(p.Items) > 1) || (len(p.Items) == 0 && p.NextCursor != "") {
				t.Fatalf("MaxBytes %d: a page of %d items and %d bytes, next cursor %q", max, len(p.Items), size, p.NextCursor)
			}
		})
		for i := range n {
			k := fmt.Sprintf("k%03d", i)
			if want := map[bool]int{true: 0, false: 1}[i%4 == 3]; seen[k] != want {
				t.Fatalf("MaxBytes %d: the walk saw %s %d times, want %d", max, k, seen[k], want)
			}
		}
	}
}
