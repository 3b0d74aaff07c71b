package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// countingDB counts reads that reach the database.
type countingDB struct {
	providers.Database
	gets atomic.Int64
}

func (c *countingDB) Get(ctx context.Context, coll, key string) ([]byte, error) {
	c.gets.Add(1)
	return c.Database.Get(ctx, coll, key)
}

func newStore(t *testing.T) (*Store, *countingDB) {
	t.Helper()
	cache, err := memory.NewCache(1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	db := &countingDB{Database: memory.NewDatabase()}
	s := New(db, cache, Options{Timeout: time.Second})
	t.Cleanup(func() { _ = s.Close() })
	return s, db
}

func TestReadThrough(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	if err := s.Set(ctx, "c", "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		v, err := getValue(s, ctx, "c", "k")
		if err != nil || string(v) != "v1" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if n := db.gets.Load(); n != 1 {
		t.Fatalf("database reads = %d, want 1 (the rest from the cache)", n)
	}
	if err := s.Set(ctx, "c", "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, _ := getValue(s, ctx, "c", "k"); string(v) != "v2" {
		t.Fatalf("after overwrite Get = %q, want v2", v)
	}
	if _, err := s.Delete(ctx, "c", "k", providers.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := getValue(s, ctx, "c", "k"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

// slowDB holds reads until released, so a write can land while a read is in
// flight.
type slowDB struct {
	providers.Database
	hold chan struct{}
	in   chan struct{}
}

func (d *slowDB) Get(ctx context.Context, coll, key string) ([]byte, error) {
	v, err := d.Database.Get(ctx, coll, key)
	select {
	case d.in <- struct{}{}: // the test is waiting for the first read
	default:
	}
	<-d.hold
	return v, err
}

// racingRead is a store over a database that holds "old" at c/k, with a
// Get of it in flight: the Get has read "old" and waits in the database
// until finish.
type racingRead struct {
	s     *Store
	cache providers.Cache
	inner *memory.Database
	db    *slowDB
	done  chan []byte
}

func startRacingRead(t *testing.T, opts Options) *racingRead {
	ctx := context.Background()
	cache, _ := memory.NewCache(1<<20, 0)
	inner := memory.NewDatabase()
	_ = inner.Set(ctx, "c", "k", []byte("old"))
	r := &racingRead{cache: cache, inner: inner, done: make(chan []byte),
		db: &slowDB{Database: inner, hold: make(chan struct{}), in: make(chan struct{}, 1)}}
	r.s = New(r.db, cache, opts)
	t.Cleanup(func() { _ = r.s.Close() })
	go func() {
		v, _ := getValue(r.s, ctx, "c", "k") // reads "old", then waits
		r.done <- v
	}()
	<-r.db.in
	return r
}

// finish lets the read end, after what the test did meanwhile, and checks
// that it returned "old" without putting it into the cache (stale says
// why an entry would be stale).
func (r *racingRead) finish(t *testing.T, stale string) {
	t.Helper()
	close(r.db.hold)
	if v := <-r.done; string(v) != "old" {
		t.Fatalf("racing read = %q", v)
	}
	if v, ok, _ := r.cache.Get(context.Background(), cacheKey("c", "k")); ok {
		v = mustDecode(t, v)
		t.Fatalf("cache holds %q, %s; want no entry", v, stale)
	}
}

func TestNoStaleFillAfterRacingWrite(t *testing.T) {
	ctx := context.Background()
	r := startRacingRead(t, Options{})
	if err := r.s.Set(ctx, "c", "k", []byte("new")); err != nil {
		t.Fatal(err)
	}
	r.finish(t, "read before a racing write") // the old read finishes after the write
	if v, _ := getValue(r.s, ctx, "c", "k"); string(v) != "new" {
		t.Fatalf("Get after write = %q, want new", v)
	}
}

func TestNeverStaleUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	stop := harness.Repeat(2, 0, func(r int) bool { // readers keep filling the cache
		_, _ = getValue(s, ctx, "c", fmt.Sprintf("k%d", r%2))
		return true
	})
	for i := range 200 {
		key := fmt.Sprintf("k%d", i%2)
		want := fmt.Sprintf("v%d", i)
		if err := s.Set(ctx, "c", key, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if v, err := getValue(s, ctx, "c", key); err != nil || string(v) != want {
			stop()
			t.Fatalf("write %d: read back %q, %v; want %q", i, v, err, want)
		}
	}
	stop()
}

// failingCache fails every call, as an unreachable networked cache would.
type failingCache struct{ providers.Cache }

var errCacheDown = errors.New("cache down")

func (failingCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errCacheDown
}
func (failingCache) Set(context.Context, string, []byte, time.Duration) error {
	return errCacheDown
}
func (failingCache) Delete(context.Context, string) error { return errCacheDown }
func (failingCache) Close() error                         { return nil }

func TestCacheFailures(t *testing.T) {
	ctx := context.Background()
	s := New(memory.NewDatabase(), failingCache{}, Options{})
	// Reads fall through to the database.
	if err := s.Database().Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := getValue(s, ctx, "c", "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get with a failing cache = %q, %v", v, err)
	}
	// A write that cannot invalidate says so.
	err := s.Set(ctx, "c", "k", []byte("v2"))
	var stale *StaleCacheError
	if !errors.As(err, &stale) {
		t.Fatalf("Set with a failing cache: %v, want StaleCacheError", err)
	}
	if v, _ := s.Database().Get(ctx, "c", "k"); string(v) != "v2" {
		t.Fatal("the database did not get the write")
	}
}

func TestNoCache(t *testing.T) {
	ctx := context.Background()
	s := New(memory.NewDatabase(), nil, Options{})
	defer s.Close()
	if err := s.Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := getValue(s, ctx, "c", "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	page, err := s.Query(ctx, "c", providers.Query{})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("Query = %v, %v", page, err)
	}
}

func BenchmarkGetCacheHit(b *testing.B) {
	ctx := context.Background()
	cache, _ := memory.NewCache(1<<20, 0)
	s := New(memory.NewDatabase(), cache, Options{Timeout: time.Second})
	defer s.Close()
	_ = s.Set(ctx, "c", "k", []byte("value"))
	_, _ = getValue(s, ctx, "c", "k")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = getValue(s, ctx, "c", "k")
		}
	})
}

// feed is a change feed driven by the test, as another instance's writes
// would drive Redis's.
type feed struct {
	fn   func(coll, key string)
	live bool
}

func (f *feed) Changes(fn func(coll, key string)) { f.fn = fn }
func (f *feed) Live() bool                        { return f.live }
func (f *feed) FallbackTTL() time.Duration        { return 200 * time.Millisecond }

func TestRemoteChanges(t *testing.T) {
	ctx := context.Background()
	cache, _ := memory.NewCache(1<<20, 0)
	db := memory.NewDatabase()
	f := &feed{live: true}
	s := New(db, cache, Options{Changes: f})
	defer s.Close()
	_ = s.Set(ctx, "c", "k", []byte("v1"))
	_ = s.Set(ctx, "c", "other", []byte("o1"))
	if v, _ := getValue(s, ctx, "c", "k"); string(v) != "v1" {
		t.Fatal(string(v))
	}
	_, _ = getValue(s, ctx, "c", "other")
	// Another instance writes straight to the shared database and announces it.
	_ = db.Set(ctx, "c", "k", []byte("v2"))
	_ = db.Set(ctx, "c", "other", []byte("o2"))
	if v, _ := getValue(s, ctx, "c", "k"); string(v) != "v1" {
		t.Fatalf("before the announcement: %q (the test needs a cached entry)", v)
	}
	f.fn("c", "k")
	if v, _ := getValue(s, ctx, "c", "k"); string(v) != "v2" {
		t.Fatalf("after the announcement: %q, want v2", v)
	}
	if v, _ := getValue(s, ctx, "c", "other"); string(v) != "o1" {
		t.Fatalf("an unannounced key was dropped too: %q", v)
	}
	// Missed changes: everything goes.
	f.fn("", "")
	if v, _ := getValue(s, ctx, "c", "other"); string(v) != "o2" {
		t.Fatalf("after a gap: %q, want o2", v)
	}
	// While the feed is down, fills expire after the fallback TTL.
	f.live = false
	_ = s.Set(ctx, "c", "t", []byte("t1"))
	_, _ = getValue(s, ctx, "c", "t")
	_ = db.Set(ctx, "c", "t", []byte("t2")) // unannounced
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := getValue(s, ctx, "c", "t"); string(v) == "t2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("with the feed down, a stale entry outlived the fallback TTL")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNoStaleFillAcrossFeedGap: a read that was in flight when the change
// feed reported a gap (changes missed) must not put what it read into the
// cache, since another instance may have changed it during the gap.
func TestNoStaleFillAcrossFeedGap(t *testing.T) {
	ctx := context.Background()
	f := &feed{live: true}
	r := startRacingRead(t, Options{Changes: f})
	_ = r.inner.Set(ctx, "c", "k", []byte("new")) // another instance, unannounced
	f.fn("", "")                                  // the feed is back after a gap
	r.finish(t, "read before the gap ended")
}

func getValue(s *Store, ctx context.Context, coll, key string) ([]byte, error) {
	e, err := s.Get(ctx, coll, key)
	return e.Value, err
}

func mustDecode(t *testing.T, b []byte) []byte {
	t.Helper()
	e, ok := decodeEntry(b)
	if !ok {
		t.Fatalf("cache entry %q is not an encoded entry", b)
	}
	return e.Value
}
