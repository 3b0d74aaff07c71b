package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/redis"
)

// openDB opens a database on url with settings kv, closed when the test ends.
func openDB(t *testing.T, url string, kv ...string) providers.Database {
	t.Helper()
	db, err := redis.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: url, MaxConnections: 16, Timeout: 2 * time.Second, Settings: settings(kv...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestCluster runs everything that needs a Redis Cluster on one cluster of
// three masters with a replica each: the conformance suites, the spread of
// a collection, Clear and Stats over every master, health, and then, one
// after the other, failovers (each killed master rejoins as a replica, so
// that the next subtest finds three masters with a replica each again).
func TestCluster(t *testing.T) {
	ctx := context.Background()
	cl := redistest.StartCluster(t)
	url := cl.URL()

	t.Run("DatabaseConformance", func(t *testing.T) { conformance(t, url) })
	t.Run("CacheConformance", func(t *testing.T) {
		providertest.TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
			prefixes++
			cfg.URL = url
			cfg.Settings = settings("redis.key_prefix", fmt.Sprintf("c%d", prefixes))
			c, err := redis.OpenCache(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})

	t.Run("Batches", func(t *testing.T) { clusterBatches(t, url) })
	t.Run("QueryByteBound", func(t *testing.T) { byteBoundWalk(t, url) })
	t.Run("SweepFindsIndexes", func(t *testing.T) {
		raw := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{cl.Nodes[0].Addr}, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}}) // see noMaintNotifications
		defer raw.Close()
		sweepFindsIndexes(t, url, raw)
	})

	// Spread: 30,000 keys of one collection land on every master, and a
	// walk returns each exactly once.
	t.Run("Spread", func(t *testing.T) {
		db := openDB(t, url, "redis.key_prefix", "spread")
		const n = 30_000
		parallel(t, 16, n, func(i int) error { return db.Set(ctx, "big", fmt.Sprintf("k%05d", i), []byte("v")) })
		for _, m := range cl.Masters() {
			held := 0
			var cursor uint64
			for {
				keys, next, err := m.Client().Scan(ctx, cursor, "spread:db:*", 1000).Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					held += int(m.Client().HLen(ctx, k).Val())
				}
				if cursor = next; cursor == 0 {
					break
				}
			}
			t.Logf("master %s holds %d of the %d keys", m.Addr, held, n)
			if held == 0 || held == n {
				t.Errorf("master %s holds %d of the collection's %d keys: it is not spread", m.Addr, held, n)
			}
		}
		seen := walkAll(t, db, "big", 1000)
		for i := range n {
			if k := fmt.Sprintf("k%05d", i); seen[k] != 1 {
				t.Fatalf("walk saw %s %d times, want once (%d keys seen)", k, seen[k], len(seen))
			}
		}
		if len(seen) != n {
			t.Fatalf("walk saw %d keys, want %d", len(seen), n)
		}
	})

	t.Run("QueryWalkUnderChurn", func(t *testing.T) {
		db := openDB(t, url, "redis.key_prefix", "churn")
		for i := range 2000 {
			if err := db.Set(ctx, "w", fmt.Sprintf("s%05d", i), []byte("stable")); err != nil {
				t.Fatal(err)
			}
		}
		seen := providertest.WalkKeys(t, db, "w", providers.Query{Limit: 13}, 2000, func(page int, _ providers.Page) {
			for j := range 5 {
				_ = db.Set(ctx, "w", fmt.Sprintf("n%05d-%d", page, j), []byte("new"))
				_, _ = db.Delete(ctx, "w", fmt.Sprintf("n%05d-%d", page-1, j))
			}
		})
		for i := range 2000 {
			if k := fmt.Sprintf("s%05d", i); seen[k] != 1 {
				t.Fatalf("stable key %s seen %d times, want once", k, seen[k])
			}
		}
	})

	t.Run("ClearAndStatsEveryMaster", func(t *testing.T) {
		c, err := redis.OpenCache(ctx, providers.CacheConfig{URL: url, Settings: settings("redis.key_prefix", "stats")})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		parallel(t, 8, 3000, func(i int) error { return c.Set(ctx, fmt.Sprint(i), []byte("v"), 0) })
		other := openDB(t, url, "redis.key_prefix", "stats") // same prefix, database keys: not the cache's
		_ = other.Set(ctx, "keep", "k", []byte("v"))
		if st, err := c.Stats(ctx); err != nil || st.Entries != 3000 {
			t.Fatalf("Stats = %+v, %v; want 3000 entries (counted on every master)", st, err)
		}
		if err := c.Clear(ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range cl.Masters() {
			if keys, _, _ := m.Client().Scan(ctx, 0, "stats:cache:*", 10_000).Result(); len(keys) > 0 {
				t.Fatalf("master %s still holds %d cache keys after Clear", m.Addr, len(keys))
			}
		}
		if _, err := other.Get(ctx, "keep", "k"); err != nil {
			t.Fatalf("Clear removed a database key: %v", err)
		}
	})

	t.Run("Health", func(t *testing.T) {
		db := openDB(t, url)
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		r := indicator(t, db, "redis_cluster").Check(ctx)
		masters, _ := r.Details["masters"].(map[string]any)
		if r.Status != providers.StatusUp || r.Details["cluster_state"] != "ok" || len(masters) != 3 {
			t.Fatalf("redis_cluster = %+v, want UP, state ok and 3 masters", r)
		}
		for _, m := range cl.Masters() {
			d, _ := masters[m.Addr].(map[string]any)
			if d == nil || d["status"] != providers.StatusUp || d["slots"] == "" {
				t.Fatalf("master %s in the report: %v", m.Addr, d)
			}
		}
	})

	// A walk whose bucket's master fails over must not go on silently
	// (the new master's HSCAN order differs): it asks for a restart, and a
	// walk from the start then returns every key once. Writes wait for a
	// replica, so that none is lost in the failover.
	t.Run("WalkAcrossFailover", func(t *testing.T) {
		db := openDB(t, url, "redis.key_prefix", "wf", "redis.min_replicas", "1")
		const n = 3000
		cursor := startWalk(t, db, n)
		bucket0 := redis.Bucket(db, "w", 0)
		m := cl.MasterOf(bucket0)
		killed := time.Now()
		cl.Kill(m)
		if _, err := db.Query(ctx, "w", providers.Query{Limit: 5, Cursor: cursor}); err == nil {
			t.Fatal("the walk went on while its bucket's master was down")
		}
		took := cl.WaitFailover(m, killed)
		t.Logf("a replica took over %s after the kill", took)
		waitFor(t, "Ping after the failover", func() bool { return db.Ping(ctx) == nil })
		checkWalkAfterFailover(t, db, cursor, n)
		cl.Rejoin(m)
	})

	// The change feed: another instance hears writes; when the master of
	// the channel's slot dies, the subscription comes back on the promoted
	// replica and subscribers are told that changes may have been missed;
	// when another master fails over (the subscription never drops),
	// subscribers are told too, from the cluster's epoch.
	t.Run("ChangeFeedAcrossFailover", func(t *testing.T) {
		a := openDB(t, url, "redis.key_prefix", "feed")
		b := openDB(t, url, "redis.key_prefix", "feed")
		var got providertest.ChangeRecorder
		b.(providers.ChangeFeed).Changes(got.Add)
		live := b.(providers.ChangeFeed).Live
		waitFor(t, "b live", live)
		for i := range 20 { // keys on every master
			_ = a.Set(ctx, "pets", fmt.Sprint(i), []byte("cat"))
		}
		for i := range 20 {
			waitFor(t, "b hears every write", got.Seen(fmt.Sprintf("pets/%d", i)))
		}

		// A master that does not hold the channel: the subscription stays.
		channelMaster := cl.MasterOf("feed:changes")
		var other *redistest.Server
		for _, m := range cl.Masters() {
			if m != channelMaster {
				other = m
			}
		}
		got.Reset()
		killed := time.Now()
		cl.Kill(other)
		cl.WaitFailover(other, killed)
		waitFor(t, "a gap after another master's failover", got.Seen("/"))
		t.Logf("gap signalled %s after the kill of a master that does not hold the subscription", time.Since(killed))
		cl.Rejoin(other)

		got.Reset()
		killed = time.Now()
		cl.Kill(channelMaster)
		waitFor(t, "b not live", func() bool { return !live() })
		cl.WaitFailover(channelMaster, killed)
		waitFor(t, "b live again", live)
		waitFor(t, "a gap after the subscription's master failed over", got.Seen("/"))
		t.Logf("subscription back %s after the kill of its master", time.Since(killed))
		for i := range 20 {
			waitFor(t, "a write", func() bool { return a.Set(ctx, "pets", fmt.Sprint(i), []byte("dog")) == nil })
		}
		for i := range 20 {
			waitFor(t, "b hears writes after the failover", got.Seen(fmt.Sprintf("pets/%d", i)))
		}
		cl.Rejoin(channelMaster)
	})
}

// parallel runs fn(0..n-1) on workers goroutines and fails on the first error.
func parallel(t *testing.T, workers, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// startWalk writes the keys k00000 to k<n-1> to collection w of db, which
// waits for a replica (redis.min_replicas=1), and starts a walk of it: the
// cursor after its first page.
func startWalk(t *testing.T, db providers.Database, n int) (cursor string) {
	t.Helper()
	ctx := context.Background()
	parallel(t, 8, n, func(i int) error { return db.Set(ctx, "w", fmt.Sprintf("k%05d", i), []byte("v")) })
	p, err := db.Query(ctx, "w", providers.Query{Limit: 5})
	if err != nil || p.NextCursor == "" {
		t.Fatalf("first page: %v %+v", err, p)
	}
	return p.NextCursor
}

// checkWalkAfterFailover: after a failover, the walk startWalk began (at
// cursor) must not go on silently, as the new master's HSCAN order differs:
// it asks for a restart; and a walk from the start sees each of its n keys
// once, as none acknowledged with min_replicas=1 may be lost.
func checkWalkAfterFailover(t *testing.T, db providers.Database, cursor string, n int) {
	t.Helper()
	_, err := db.Query(context.Background(), "w", providers.Query{Limit: 5, Cursor: cursor})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "start the walk again") {
		t.Fatalf("walk continued on the new master: err = %v, want ErrInvalid asking for a restart", err)
	}
	seen := walkAll(t, db, "w", 100)
	for i := range n {
		if k := fmt.Sprintf("k%05d", i); seen[k] != 1 {
			t.Fatalf("after the failover, a walk saw %s %d times, want once (a write acknowledged with min_replicas=1 was lost?)", k, seen[k])
		}
	}
}

// walkAll walks a collection with pages of limit and counts each key.
func walkAll(t *testing.T, db providers.Database, coll string, limit int) map[string]int {
	t.Helper()
	return providertest.WalkKeys(t, db, coll, providers.Query{Limit: limit}, 100_000, nil)
}

// indicator finds a provider's health indicator by name.
func indicator(t *testing.T, p any, name string) providers.HealthIndicator {
	t.Helper()
	for _, h := range p.(providers.HealthContributor).HealthIndicators() {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no %s health indicator", name)
	return providers.HealthIndicator{}
}

// TestDownIsAnError: with Redis stopped, a read through the shared
// pipeline (two commands: the value and its version) fails as unavailable,
// never as an empty value.
func TestDownIsAnError(t *testing.T) {
	srv := redistest.Start(t)
	db := openDB(t, srv.URL(0))
	ctx := context.Background()
	if err := db.Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for _, key := range []string{"k", "missing"} {
		e, err := db.(providers.Versioned).GetEntry(ctx, "c", key)
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Fatalf("GetEntry %s with Redis down = %q (version %q), %v; want ErrUnavailable", key, e.Value, e.Version, err)
		}
	}
}
