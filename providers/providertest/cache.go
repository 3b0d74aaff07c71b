package providertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
)

// OpenCache opens a fresh, empty cache for one subtest with the capacity and
// default TTL of cfg (the suite fills in those fields; the opener adds its
// URL and anything else it needs). The suite closes it.
type OpenCache func(t *testing.T, cfg providers.CacheConfig) providers.Cache

// CacheHarness is what the cache suite needs from a provider.
type CacheHarness struct {
	// Open opens a fresh, empty cache for each case.
	Open OpenCache
}

// TestCache runs the cache conformance suite on caches that open returns;
// it is RunCacheTests with CacheHarness{Open: open}.
func TestCache(t *testing.T, open OpenCache) {
	t.Helper()
	RunCacheTests(t, CacheHarness{Open: open})
}

// RunCacheTests runs the cache conformance suite: every case of
// providers.Cache's contract, each on a fresh cache, as subtests of
// "navius.cache.v2": among them a done context on every method
// (HonoursContext), a context that ends while the call waits on a busy
// cache (HonoursContextWhileBlocked) and Close while calls are in flight
// (CloseWhileBusy).
func RunCacheTests(t *testing.T, h CacheHarness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("providertest: CacheHarness needs Open")
	}
	runSuite(t, conformance.Cache, func(s *suiteRun) { cacheCases(s, h.Open) })
}

func cacheCases(s *suiteRun, open OpenCache) {
	ctx := context.Background()
	run := func(name string, cfg providers.CacheConfig, fn func(t *testing.T, c providers.Cache)) {
		s.run(name, func(t *testing.T) {
			if cfg.Capacity == 0 {
				cfg.Capacity = 32 << 20
			}
			c := open(t, cfg)
			s.tested(c)
			t.Cleanup(func() { _ = c.Close() })
			fn(t, c)
		})
	}

	run("SetGetDelete", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		if _, ok, err := c.Get(ctx, "k"); err != nil || ok {
			t.Fatalf("Get of a missing key = %v, %v; want a miss", ok, err)
		}
		cacheSet(t, c, "k", "v1", 0)
		cacheHit(t, c, "k", "v1")
		cacheSet(t, c, "k", "v2", 0)
		cacheHit(t, c, "k", "v2")
		if err := c.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		cacheMiss(t, c, "k")
		if err := c.Delete(ctx, "never-set"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
	})

	run("ValuesAreCopied", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		buf := []byte("original")
		if err := c.Set(ctx, "k", buf, 0); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXXXX")
		cacheHit(t, c, "k", "original")
	})

	run("EmptyAndBinaryValues", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		cacheSet(t, c, "empty", "", 0)
		cacheHit(t, c, "empty", "")
		bin := string([]byte{0, 0xff, '\n', 0})
		cacheSet(t, c, "bin", bin, 0)
		cacheHit(t, c, "bin", bin)
	})

	run("TTL", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		cacheSet(t, c, "short", "v", 300*time.Millisecond)
		cacheSet(t, c, "forever", "v", 0)
		cacheHit(t, c, "short", "v")
		waitMiss(t, c, "short", 5*time.Second)
		cacheHit(t, c, "forever", "v")
	})

	run("DefaultTTL", providers.CacheConfig{DefaultTTL: 300 * time.Millisecond}, func(t *testing.T, c providers.Cache) {
		cacheSet(t, c, "k", "v", 0)
		cacheSet(t, c, "long", "v", time.Hour)
		cacheHit(t, c, "k", "v")
		waitMiss(t, c, "k", 5*time.Second)
		cacheHit(t, c, "long", "v")
	})

	run("Clear", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		for i := range 20 {
			cacheSet(t, c, fmt.Sprintf("k%d", i), "v", 0)
		}
		if err := c.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			cacheMiss(t, c, fmt.Sprintf("k%d", i))
		}
		cacheSet(t, c, "after", "v", 0)
		cacheHit(t, c, "after", "v")
	})

	run("Stats", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		before, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cacheSet(t, c, "a", "1", 0)
		cacheSet(t, c, "b", "2", 0)
		cacheHit(t, c, "a", "1")
		cacheHit(t, c, "b", "2")
		cacheHit(t, c, "a", "1")
		cacheMiss(t, c, "zzz")
		after, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hits := after.Hits - before.Hits; hits != 3 {
			t.Errorf("hits grew by %d, want 3", hits)
		}
		if misses := after.Misses - before.Misses; misses != 1 {
			t.Errorf("misses grew by %d, want 1", misses)
		}
		if after.Entries != 2 {
			t.Errorf("entries = %d, want 2", after.Entries)
		}
		if r := after.HitRatio(); r <= 0 || r > 1 {
			t.Errorf("hit ratio = %v", r)
		}
	})

	// A provider that enforces a capacity reports it in Stats and keeps to it.
	run("CapacityBound", providers.CacheConfig{Capacity: 64 << 10}, func(t *testing.T, c providers.Cache) {
		val := make([]byte, 1024)
		for i := range 1000 { // ~1 MB into a 64 KiB cache
			if err := c.Set(ctx, fmt.Sprintf("k%04d", i), val, 0); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Capacity == 0 {
			// The backend bounds memory itself (Redis's maxmemory);
			// navius sets no capacity of its own.
			return
		}
		if st.Capacity != 64<<10 {
			t.Fatalf("capacity = %d, want the configured %d", st.Capacity, 64<<10)
		}
		if st.Bytes > 64<<10 {
			t.Fatalf("cache holds %d bytes, over its 64 KiB capacity", st.Bytes)
		}
		if st.Entries > 64 {
			t.Fatalf("cache holds %d 1 KiB entries, more than fit in 64 KiB", st.Entries)
		}
	})

	run("Concurrent", providers.CacheConfig{}, func(t *testing.T, c providers.Cache) {
		err := Concurrently(8, 200, func(w, i int) error {
			k := fmt.Sprintf("k%d", i%20)
			switch (w + i) % 4 {
			case 0:
				return c.Set(ctx, k, []byte(k), 0)
			case 1:
				v, ok, err := c.Get(ctx, k)
				if err == nil && ok && string(v) != k {
					err = fmt.Errorf("key %s holds %q", k, v)
				}
				return err
			case 2:
				return c.Delete(ctx, k)
			default:
				_, err := c.Stats(ctx)
				return err
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	run("HonoursContext", providers.CacheConfig{}, cacheHonoursContext)

	run("HonoursContextWhileBlocked", providers.CacheConfig{}, cacheHonoursContextWhileBlocked)

	run("CloseWhileBusy", providers.CacheConfig{}, cacheCloseWhileBusy)
}

func cacheSet(t *testing.T, c providers.Cache, key, value string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set %s: %v", key, err)
	}
}

func cacheHit(t *testing.T, c providers.Cache, key, want string) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil || !ok || string(v) != want {
		t.Fatalf("Get %s = %q, %v, %v; want a hit with %q", key, v, ok, err, want)
	}
}

func cacheMiss(t *testing.T, c providers.Cache, key string) {
	t.Helper()
	v, ok, err := c.Get(context.Background(), key)
	if err != nil || ok {
		t.Fatalf("Get %s = %q, %v, %v; want a miss", key, v, ok, err)
	}
}

// waitMiss polls until key expires; TTLs are enforced by the backend's clock,
// so the suite allows generous slack rather than a fixed sleep.
func waitMiss(t *testing.T, c providers.Cache, key string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, ok, err := c.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key %s still cached %s after its TTL", key, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
