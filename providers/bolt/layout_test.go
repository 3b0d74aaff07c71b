package bolt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
)

// These tests reach the file with bbolt itself, as navius before versions
// did (one bucket per collection, key -> value), to check the layout both
// ways: what the new provider makes of an old file, and what an old navius
// would find in a new one.

// rawUpdate runs fn on the closed database file at path, as an older navius
// would.
func rawUpdate(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// rawValue reads coll/key from the file as an older navius would; ok is
// false when it finds no value.
func rawValue(t *testing.T, path, coll, key string) (value string, ok bool) {
	t.Helper()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(coll)); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				value, ok = string(v), true
			}
		}
		return nil
	})
	return value, ok
}

// rawCollection creates collection coll holding kv (key, value, key,
// value, ...) in the file at path, as an older navius wrote it: plain
// values, without versions.
func rawCollection(t *testing.T, path, coll string, kv ...string) {
	t.Helper()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte(coll))
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := b.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
}

func rawBucket(t *testing.T, path string, name []byte) (exists bool, keys int) {
	t.Helper()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		if b := tx.Bucket(name); b != nil {
			exists, keys = true, b.Stats().KeyN
		}
		return nil
	})
	return exists, keys
}

func open(t *testing.T, path string) *bolt.Database {
	t.Helper()
	db, err := bolt.Open(path, bolt.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestLegacyEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	rawCollection(t, path, "c", "a", "one", "bin", "\x00\xff\x80")
	db := open(t, path)
	e, err := db.GetEntry(ctx, "c", "a")
	if err != nil || string(e.Value) != "one" || e.Version != providers.LegacyVersion || !e.ExpiresAt.IsZero() {
		t.Fatalf("legacy entry: %q version %q expires %v, %v; want one, %s, no expiry", e.Value, e.Version, e.ExpiresAt, err, providers.LegacyVersion)
	}
	page, err := db.Query(ctx, "c", providers.Query{})
	if err != nil || len(page.Items) != 2 || page.Items[0].Version != providers.LegacyVersion || string(page.Items[1].Value) != "\x00\xff\x80" {
		t.Fatalf("Query of legacy entries = %+v, %v", page.Items, err)
	}
	v, err := db.Put(ctx, "c", "a", []byte("two"), providers.Write{Condition: providers.Condition{Match: []string{providers.LegacyVersion}}})
	if err != nil || v == providers.LegacyVersion {
		t.Fatalf("If-Match the legacy version = %q, %v; want a new version", v, err)
	}
	if _, err := db.Put(ctx, "c", "a", []byte("lost"), providers.Write{Condition: providers.Condition{Match: []string{providers.LegacyVersion}}}); !errors.Is(err, providers.ErrPrecondition) {
		t.Fatalf("If-Match the legacy version after a write: %v, want a failed precondition", err)
	}
	// Deleting every key still drops the collection, records and all.
	for _, k := range []string{"a", "bin"} {
		if existed, err := db.Delete(ctx, "c", k); err != nil || !existed {
			t.Fatalf("Delete %s = %v, %v", k, existed, err)
		}
	}
	_ = db.Close()
	if exists, _ := rawBucket(t, path, []byte("c")); exists {
		t.Fatal("the collection's bucket outlived its last key")
	}
}

// An older navius reads what this one writes: the collection's bucket
// holds the values as they are, and nothing else.
func TestOlderNaviusReadsNewFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	db := open(t, path)
	if _, err := db.Put(ctx, "c", "k", []byte("plain"), providers.Write{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apply(ctx, []providers.BatchOp{{Collection: "c", Key: "b", Value: []byte("batched")}}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	got := map[string]string{}
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("c")).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	})
	if len(got) != 2 || got["k"] != "plain" || got["b"] != "batched" {
		t.Fatalf("an older navius finds the collection holding %q; want k: plain, b: batched", got)
	}
}

// A value an older navius rewrote, or deleted, after this one gave it a
// version and an expiry time: the stale record must not apply to it.
func TestStaleRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mixed.db")
	db := open(t, path)
	const ttl = 300 * time.Millisecond
	versions := map[string]string{}
	for _, k := range []string{"c/rewritten", "c/deleted", "c/expiring", "solo/deleted"} {
		coll, key, _ := strings.Cut(k, "/")
		v, err := db.Put(ctx, coll, key, []byte("by the new navius"), providers.Write{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		versions[k] = v
	}
	if _, err := db.Put(ctx, "c", "kept", []byte("for good"), providers.Write{}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("c"))
		if err := b.Put([]byte("rewritten"), []byte("by an older navius")); err != nil {
			return err
		}
		if err := b.Delete([]byte("deleted")); err != nil {
			return err
		}
		// An older navius drops a collection with its last key.
		return tx.DeleteBucket([]byte("solo"))
	})
	db = open(t, path)
	e, err := db.GetEntry(ctx, "c", "rewritten")
	if err != nil || string(e.Value) != "by an older navius" || e.Version != providers.LegacyVersion || !e.ExpiresAt.IsZero() {
		t.Fatalf("a value rewritten by an older navius: %q version %q expires %v, %v; want it as a legacy entry", e.Value, e.Version, e.ExpiresAt, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	n, err := db.Sweep(ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want only the entry that expired removed", n, err)
	}
	e, err = db.GetEntry(ctx, "c", "rewritten")
	if err != nil || string(e.Value) != "by an older navius" || e.Version != providers.LegacyVersion {
		t.Fatalf("after the sweep, the rewritten value: %q version %q, %v", e.Value, e.Version, err)
	}
	if _, err := db.Put(ctx, "c", "rewritten", nil, providers.Write{Condition: providers.Condition{Match: []string{versions["c/rewritten"]}}}); !errors.Is(err, providers.ErrPrecondition) {
		t.Fatalf("If-Match the stale record's version: %v, want a failed precondition", err)
	}
	page, err := db.Query(ctx, "c", providers.Query{})
	if err != nil || len(page.Items) != 2 || page.Items[0].Key != "kept" || page.Items[1].Key != "rewritten" {
		t.Fatalf("Query after the sweep = %+v, %v; want kept and rewritten", page.Items, err)
	}
	_ = db.Close()
	if _, n := rawBucket(t, path, []byte("\x00expiry")); n != 0 {
		t.Fatalf("the expiry index holds %d entries after the sweep, want 0", n)
	}
	if _, n := rawBucket(t, path, []byte("\x00meta")); n != 1 {
		t.Fatalf("%d records are left after the sweep, want 1 (kept's)", n)
	}
}

func TestReservedNames(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "r.db"))
	for _, coll := range []string{"\x00expiry", "\x00meta", "\x00"} {
		if _, err := db.Put(ctx, coll, "k", []byte("x"), providers.Write{}); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("Put %q: %v, want ErrInvalid", coll, err)
		}
		if _, err := db.Apply(ctx, []providers.BatchOp{{Collection: coll, Key: "k", Value: []byte("x")}}); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("Apply %q: %v, want ErrInvalid", coll, err)
		}
		if _, err := db.Get(ctx, coll, "k"); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("Get %q: %v, want ErrInvalid", coll, err)
		}
		if _, err := db.Query(ctx, coll, providers.Query{}); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("Query %q: %v, want ErrInvalid", coll, err)
		}
	}
	// Any key is a key, NUL bytes included.
	if _, err := db.Put(ctx, "c", "\x00", []byte("nul"), providers.Write{}); err != nil {
		t.Fatalf("Put of the key \\x00: %v", err)
	}
	if v, err := db.Get(ctx, "c", "\x00"); err != nil || string(v) != "nul" {
		t.Fatalf("Get of the key \\x00 = %q, %v", v, err)
	}
}

// Writes keep the expiry index exact: one entry per record with an expiry
// time, so that the sweep's work is the entries that expired.
func TestExpiryIndexFollowsWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "i.db")
	db := open(t, path)
	put := func(key string, ttl time.Duration) {
		t.Helper()
		if _, err := db.Put(ctx, "c", key, []byte("v"), providers.Write{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", time.Hour)
	put("a", 2*time.Hour) // replaces a's index entry
	put("b", time.Hour)
	put("b", 0) // drops b's
	put("c", time.Hour)
	if _, err := db.Delete(ctx, "c", "c"); err != nil { // drops c's
		t.Fatal(err)
	}
	if _, err := db.Apply(ctx, []providers.BatchOp{{Collection: "d", Key: "d", Value: []byte("v"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, n := rawBucket(t, path, []byte("\x00expiry")); n != 2 {
		t.Fatalf("the expiry index holds %d entries, want 2 (a and d)", n)
	}
}

// A walk finds each item's record beside it, page after page, among keys
// with no record (written before versions) and other collections' records.
func TestQueryVersions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	rawCollection(t, path, "c", "a", "old", "d", "old", "g", "old", "z", "old")
	db := open(t, path)
	want := map[string]string{"a": providers.LegacyVersion, "d": providers.LegacyVersion, "g": providers.LegacyVersion, "z": providers.LegacyVersion}
	for _, coll := range []string{"b", "c", "ca"} {
		for _, k := range []string{"b", "c", "e", "f", "h", "y"} {
			v, err := db.Put(ctx, coll, k, []byte("new"), providers.Write{})
			if err != nil {
				t.Fatal(err)
			}
			if coll == "c" {
				want[k] = v
			}
		}
	}
	got := map[string]string{}
	cursor := ""
	for range 20 {
		page, err := db.Query(ctx, "c", providers.Query{Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			got[it.Key] = it.Version
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("the walk found %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("item %s has version %q, want %q", k, got[k], v)
		}
	}
}
