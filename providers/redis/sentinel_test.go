package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/redis"
)

func init() { redis.SilenceClientLog() }

// TestSentinel runs everything that needs Sentinel on one setup (a master,
// two replicas, three sentinels): the conformance suites, health, bad
// master names, and a failover.
func TestSentinel(t *testing.T) {
	ctx := context.Background()
	st := redistest.StartSentinel(t)

	t.Run("DatabaseConformance", func(t *testing.T) { conformance(t, st.URL(0)) })
	t.Run("CacheConformance", func(t *testing.T) {
		providertest.TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
			prefixes++
			cfg.URL = st.URL(1)
			cfg.Settings = settings("redis.key_prefix", fmt.Sprintf("c%d", prefixes))
			c, err := redis.OpenCache(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})

	// The layout is the one-node layout: a collection is one hash, in the
	// URL's database, so data moves from one node to Sentinel as it is.
	t.Run("SameLayoutAsOneNode", func(t *testing.T) {
		db := openDB(t, st.URL(4))
		if err := db.Set(ctx, "pets", "tom", []byte("cat")); err != nil {
			t.Fatal(err)
		}
		if v, err := openDB(t, "redis://"+st.Master().Addr+"/4").Get(ctx, "pets", "tom"); err != nil || string(v) != "cat" {
			t.Fatalf("a one-node client reads %q, %v; want the same hash", v, err)
		}
	})

	t.Run("Health", func(t *testing.T) {
		db := openDB(t, st.URL(0))
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		r := indicator(t, db, "redis_sentinel").Check(ctx)
		if r.Status != providers.StatusUp || r.Details["master"] != st.Master().Addr || r.Details["sentinels_answering"] != "3/3" {
			t.Fatalf("redis_sentinel = %+v, want UP with master %s and 3/3 sentinels", r, st.Master().Addr)
		}
	})

	t.Run("UnknownMasterName", func(t *testing.T) {
		bad := strings.Replace(st.URL(0), "master="+redistest.MasterName, "master=nosuch", 1)
		_, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: bad, Settings: settings()})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), `does not know master "nosuch"`) ||
			!strings.Contains(err.Error(), redistest.MasterName) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("unknown master name: %v; want a one-line ErrInvalid naming the master it monitors", err)
		}
	})

	// A failover: writes acknowledged with redis.min_replicas=1 all survive,
	// the database serves again once the sentinels promote a replica, a
	// walk under way asks for a restart, and the change feed comes back
	// and signals the gap.
	t.Run("Failover", func(t *testing.T) {
		db := openDB(t, st.URL(0), "redis.key_prefix", "fo", "redis.min_replicas", "1")
		other := openDB(t, st.URL(0), "redis.key_prefix", "fo")
		var mu sync.Mutex
		gaps := 0
		other.(providers.ChangeFeed).Changes(func(coll, key string) {
			if coll == "" {
				mu.Lock()
				gaps++
				mu.Unlock()
			}
		})
		live := other.(providers.ChangeFeed).Live
		waitFor(t, "feed live", live)
		const n = 2000
		cursor := startWalk(t, db, n)
		mu.Lock()
		gaps = 0
		mu.Unlock()

		old := st.Master()
		killed := time.Now()
		old.Stop()
		waitFor(t, "Ping fails", func() bool { return db.Ping(ctx) != nil })
		took := st.WaitFailover(old, killed)
		waitFor(t, "Ping after the failover", func() bool { return db.Ping(ctx) == nil })
		t.Logf("sentinels named a new master %s after the kill; Ping answered again after %s", took, time.Since(killed))
		if err := db.Set(ctx, "w", "after", []byte("v")); err != nil {
			t.Fatalf("write after the failover (one replica left, min_replicas=1): %v", err)
		}
		checkWalkAfterFailover(t, db, cursor, n)
		waitFor(t, "feed live again", live)
		waitFor(t, "a gap signalled", func() bool { mu.Lock(); defer mu.Unlock(); return gaps > 0 })
		if r := indicator(t, db, "redis_sentinel").Check(ctx); r.Details["master"] != st.Master().Addr {
			t.Fatalf("redis_sentinel reports master %v, the sentinels %s", r.Details["master"], st.Master().Addr)
		}
		st.Rejoin(old)
	})
}
