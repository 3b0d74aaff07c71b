package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
	"github.com/navius-dev/navius/providers/providertest"
)

func init() {
	// For the Config harness, which opens databases through the registry.
	providers.RegisterDatabase("bolt", []string{"bolt"}, bolt.OpenDatabase, bolt.CheckDatabase)
}

// The conformance suite through the registry, as navius opens bolt: the
// cases that reopen the file (Durable, ExpiryDurable) and CrashDurable,
// which kills a writing child process with SIGKILL.
func TestDatabaseConformance(t *testing.T) {
	for _, batch := range []string{"true", "false"} {
		t.Run("batch="+batch, func(t *testing.T) {
			providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
				Config: func(t *testing.T, dir string) providers.DatabaseConfig {
					return providers.DatabaseConfig{
						URL:      "bolt://" + filepath.Join(dir, "sub", "test.db"),
						Settings: providers.Settings{"bolt.batch": batch},
					}
				},
				Durable: true,
			})
		})
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(ctx, "c", "k", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := db.Get(ctx, "c", "k")
	if err != nil || string(v) != "kept" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
}

func TestLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	db, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = bolt.Open(path, bolt.Config{LockTimeout: 100e6})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v, want a lock error", err)
	}
}

func TestPathFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"bolt://./data/navius.db":     "data/navius.db",
		"bolt:///var/lib/navius/x.db": "/var/lib/navius/x.db",
		"bolt:rel.db":                 "rel.db",
		"bolt://data/navius.db":       "data/navius.db",
		"BOLT:///abs.db":              "/abs.db",
	} {
		got, err := bolt.PathFromURL(in)
		if err != nil || got != want {
			t.Errorf("PathFromURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"bolt://", "bolt:///dir/", "memory://x", "bolt://%zz"} {
		if got, err := bolt.PathFromURL(bad); err == nil {
			t.Errorf("PathFromURL(%q) = %q, want an error", bad, got)
		}
	}
}

// Query.MaxBytes ends a page early, after at least one item, and the walk
// still finds every key once.
func TestQueryMaxBytes(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := strings.Repeat("v", 100)
	for i := range 10 {
		if err := db.Set(ctx, "c", fmt.Sprintf("k%d", i), []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Set(ctx, "c", "large", []byte(strings.Repeat("w", 1000))); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("the walk took more than 20 pages")
		}
		page, err := db.Query(ctx, "c", providers.Query{Cursor: cursor, MaxBytes: 250})
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, it := range page.Items {
			size += len(it.Key) + len(it.Value)
			if seen[it.Key] {
				t.Fatalf("%s came twice", it.Key)
			}
			seen[it.Key] = true
		}
		if len(page.Items) == 0 || (len(page.Items) > 1 && size > 250) {
			t.Fatalf("a page of %d items and %d bytes, with MaxBytes 250", len(page.Items), size)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 11 {
		t.Fatalf("the walk found %d keys, want 11", len(seen))
	}
}
