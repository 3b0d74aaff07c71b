package bolt_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
	"github.com/navius-dev/navius/providers/providertest"
)

// The conformance suite with storage: Durable and ExpiryDurable reopen
// the same file.
func TestDatabaseConformance(t *testing.T) {
	for _, batch := range []string{"true", "false"} {
		t.Run("batch="+batch, func(t *testing.T) {
			providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
				Storage: func(t *testing.T) providertest.OpenDatabase {
					url := "bolt://" + filepath.Join(t.TempDir(), "sub", "test.db")
					return func(t *testing.T) providers.Database {
						db, err := bolt.OpenDatabase(context.Background(), providers.DatabaseConfig{
							URL:      url,
							Settings: providers.Settings{"bolt.batch": batch},
						})
						if err != nil {
							t.Fatal(err)
						}
						return db
					}
				},
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
