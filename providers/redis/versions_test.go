package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/redis"
)

// TestLegacyEntries: values written before versions (a bare field in the
// collection's hash, as navius has always written them) read as
// LegacyVersion without expiry, take conditional writes, and stay where
// they are: writes never add anything to the values hash, so an older
// navius reads and walks it as before.
func TestLegacyEntries(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := srv.Client()
	raw.HSet(ctx, "legacy:db:things", "a", "old a", "b", "old b")
	db := openDB(t, srv.URL(0), "redis.key_prefix", "legacy").(providers.Expiring)

	e, err := db.GetEntry(ctx, "things", "a")
	if err != nil || string(e.Value) != "old a" || e.Version != providers.LegacyVersion || !e.ExpiresAt.IsZero() {
		t.Fatalf("legacy entry = %q version %q expires %v, %v; want old a, %s, no expiry", e.Value, e.Version, e.ExpiresAt, err, providers.LegacyVersion)
	}
	page, err := db.Query(ctx, "things", providers.Query{})
	if err != nil || len(page.Items) != 2 || page.Items[0].Version != providers.LegacyVersion {
		t.Fatalf("Query of legacy entries = %+v, %v", page.Items, err)
	}
	v, err := db.Put(ctx, "things", "a", []byte("new a"), providers.Write{Condition: providers.Condition{Match: []string{providers.LegacyVersion}}})
	if err != nil || v == providers.LegacyVersion {
		t.Fatalf("If-Match the legacy version = %q, %v; want a new version", v, err)
	}
	_, err = db.Put(ctx, "things", "b", []byte("x"), providers.Write{Condition: providers.Condition{Match: []string{v}}})
	if !errors.Is(err, providers.ErrPrecondition) {
		t.Fatalf("If-Match another key's version on a legacy entry: %v", err)
	}
	if _, err := db.Put(ctx, "things", "c", []byte("brief"), providers.Write{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if existed, err := db.Remove(ctx, "things", "b", providers.Condition{MustExist: true}); err != nil || !existed {
		t.Fatalf("Remove If-Match: * of a legacy entry = %v, %v", existed, err)
	}
	// What navius before versions sees: the values, nothing else.
	if got := raw.HGetAll(ctx, "legacy:db:things").Val(); len(got) != 2 || got["a"] != "new a" || got["c"] != "brief" {
		t.Fatalf("the values hash holds %v; want a and c with their values only", got)
	}
	if got := raw.HGet(ctx, "legacy:dbv:things", "a").Val(); got != v {
		t.Fatalf("the versions hash holds %q for a, want %q", got, v)
	}
	if got := raw.ZScore(ctx, "legacy:dbx:things", "c").Val(); got == 0 {
		t.Fatal("the expiry index lacks c")
	}
	// A version whose value navius before versions deleted is ignored.
	raw.HDel(ctx, "legacy:db:things", "a")
	if _, err := db.GetEntry(ctx, "things", "a"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("an orphaned version: %v, want ErrNotFound", err)
	}
	if _, err := db.Put(ctx, "things", "a", []byte("again"), providers.Write{Condition: providers.Condition{MustNotExist: true}}); err != nil {
		t.Fatalf("create-only over an orphaned version: %v", err)
	}
}

// TestSweepFindsIndexes: an instance that did not write the expiring
// entries (another one, or itself before a restart) finds their expiry
// indexes with SCAN and reclaims them, and announces each removal.
func TestSweepFindsIndexes(t *testing.T) {
	srv := redistest.Start(t)
	sweepFindsIndexes(t, srv.URL(0), srv.Client())
}

func sweepFindsIndexes(t *testing.T, url string, raw goredis.UniversalClient) {
	ctx := context.Background()
	writer := openDB(t, url, "redis.key_prefix", "sw").(providers.Expiring)
	const n = 300
	for i := range n {
		coll := fmt.Sprintf("c%d", i%3)
		if _, err := writer.Put(ctx, coll, fmt.Sprintf("k%d", i), []byte("v"), providers.Write{TTL: 300 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writer.Put(ctx, "c0", "kept", []byte("v"), providers.Write{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	sweeper := openDB(t, url, "redis.key_prefix", "sw").(providers.Expiring)
	heard := make(chan string, 2*n)
	writer.(providers.ChangeFeed).Changes(func(coll, key string) { heard <- coll + "/" + key })
	waitFor(t, "the writer's change feed live", writer.(providers.ChangeFeed).Live)
	time.Sleep(400 * time.Millisecond)
	total := 0
	for pass := 0; total < n; pass++ {
		if pass > 100 {
			t.Fatalf("100 sweeps removed %d of %d expired entries", total, n)
		}
		got, err := sweeper.Sweep(ctx, 64)
		if err != nil || got > 64 {
			t.Fatalf("Sweep(64) = %d, %v", got, err)
		}
		total += got
	}
	if total != n {
		t.Fatalf("sweeps removed %d entries, want %d", total, n)
	}
	if _, err := sweeper.GetEntry(ctx, "c0", "kept"); err != nil {
		t.Fatalf("a sweep removed an entry that has not expired: %v", err)
	}
	// The storage is gone: the values, versions and index entries of the
	// expired keys.
	held := int64(0)
	for i := range 3 {
		for b := range redis.Buckets(sweeper) {
			vals := redis.Bucket(sweeper, fmt.Sprintf("c%d", i), b)
			held += raw.HLen(ctx, vals).Val()
			held += raw.HLen(ctx, strings.Replace(vals, ":db:", ":dbv:", 1)).Val()
			held += raw.ZCard(ctx, strings.Replace(vals, ":db:", ":dbx:", 1)).Val()
		}
	}
	if held != 3 {
		t.Fatalf("after the sweep the collections' hashes hold %d fields, want 3 (the value, version and index entry of the one that has not expired)", held)
	}
	for range n {
		select {
		case <-heard:
		case <-time.After(5 * time.Second):
			t.Fatal("not every removal was announced on the change feed")
		}
	}
}

// TestRetriedWriteApplied: a write script sent again after its reply was
// lost (go-redis resends on a read timeout) finds its own version and
// reports the write applied, instead of failing its own condition.
func TestRetriedWriteApplied(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	db := openDB(t, srv.URL(0)).(providers.Versioned)
	v := mustPut(t, db, "c", "k", "one", providers.Write{})
	op := providers.BatchOp{Collection: "c", Key: "k", Value: []byte("two"), Condition: providers.Condition{Match: []string{v}}}
	if errs := redis.WriteTwice(ctx, db, op); errs[0] != nil || errs[1] != nil {
		t.Fatalf("a write and its retry: %v; want both to report it applied", errs)
	}
	if e, _ := db.GetEntry(ctx, "c", "k"); string(e.Value) != "two" {
		t.Fatalf("value %q, want two", e.Value)
	}
}

func mustPut(t *testing.T, db providers.Versioned, coll, key, value string, w providers.Write) string {
	t.Helper()
	v, err := db.Put(context.Background(), coll, key, []byte(value), w)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// clusterBatches: on a cluster a batch whose keys are in two slots is
// refused with ErrNotAtomic, a message that says how to meet the rule, and
// nothing written; keys that share a hash tag share a batch.
func clusterBatches(t *testing.T, url string) {
	ctx := context.Background()
	db := openDB(t, url, "redis.key_prefix", "slots").(providers.Batcher)
	for _, tc := range []struct {
		name string
		ops  []providers.BatchOp
		says string
	}{
		{"two slots", []providers.BatchOp{
			{Collection: "orders", Key: "a", Value: []byte("1")},
			{Collection: "orders", Key: "b", Value: []byte("2")},
			{Collection: "orders", Key: "c", Value: []byte("3")},
		}, "one hash tag"},
		{"two collections", []providers.BatchOp{
			{Collection: "orders", Key: "{o1}a", Value: []byte("1")},
			{Collection: "stock", Key: "{o1}b", Value: []byte("2")},
		}, "across collections"},
	} {
		_, err := db.Apply(ctx, tc.ops)
		if !errors.Is(err, providers.ErrNotAtomic) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "one hash slot") {
			t.Fatalf("%s: %v; want ErrNotAtomic explaining the rule (%q)", tc.name, err, tc.says)
		}
		for _, op := range tc.ops {
			if _, err := db.Get(ctx, op.Collection, op.Key); !errors.Is(err, providers.ErrNotFound) {
				t.Fatalf("%s: a refused batch wrote %s/%s: %v", tc.name, op.Collection, op.Key, err)
			}
		}
	}
	ops := []providers.BatchOp{
		{Collection: "orders", Key: "{o42}head", Value: []byte("order")},
		{Collection: "orders", Key: "{o42}line1", Value: []byte("item 1")},
		{Collection: "orders", Key: "{o42}line2", Value: []byte("item 2"), TTL: time.Hour},
	}
	if _, err := db.Apply(ctx, ops); err != nil {
		t.Fatalf("a batch of keys with one hash tag: %v", err)
	}
	for _, op := range ops {
		if v, err := db.Get(ctx, op.Collection, op.Key); err != nil || string(v) != string(op.Value) {
			t.Fatalf("%s = %q, %v", op.Key, v, err)
		}
	}
}
