package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/redis"
)

// settings are the provider's defaults with kv (key, value, ...) over them.
func settings(kv ...string) providers.Settings {
	return providertest.Settings(redis.Options, kv...)
}

// Each subtest gets its own key prefix on one server, which also shows that
// prefixes keep instances of navius apart.
var prefixes int

func TestDatabaseConformance(t *testing.T) {
	srv := redistest.Start(t)
	conformance(t, srv.URL(0))
}

// conformance runs the database suite on url with Storage: each storage is
// a fresh key prefix, which every open of it uses again (Redis keeps the
// data across navius's Close and reopen), so the Durable and ExpiryDurable
// cases run too.
func conformance(t *testing.T, url string) {
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{Storage: func(t *testing.T) providertest.OpenDatabase {
		prefixes++
		prefix := fmt.Sprintf("t%d", prefixes)
		return func(t *testing.T) providers.Database {
			db, err := redis.OpenDatabase(context.Background(), providers.DatabaseConfig{
				URL: url, MaxConnections: 16, Timeout: 2 * time.Second,
				Settings: settings("redis.key_prefix", prefix),
			})
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	}})
}

func TestCacheConformance(t *testing.T) {
	srv := redistest.Start(t)
	providertest.TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
		prefixes++
		cfg.URL = srv.URL(1)
		cfg.Settings = settings("redis.key_prefix", fmt.Sprintf("c%d", prefixes))
		c, err := redis.OpenCache(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestClearLeavesOtherKeys(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer raw.Close()
	raw.Set(ctx, "someone-else", "keep", 0)
	raw.HSet(ctx, "navius:db:things", "k", "keep")
	c, err := redis.OpenCache(ctx, providers.CacheConfig{URL: srv.URL(0), Settings: settings()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2500 { // more than one SCAN batch
		if err := c.Set(ctx, fmt.Sprint(i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := c.Stats(ctx); st.Entries != 2500 {
		t.Fatalf("entries = %d, want 2500", st.Entries)
	}
	if err := c.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := raw.DBSize(ctx).Result(); n != 2 {
		t.Fatalf("after Clear the database holds %d keys, want the 2 that are not navius's cache", n)
	}
}

func TestURLAndCredentials(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, "--requirepass", "s3cret-pass")
	open := func(url string, s providers.Settings) error {
		db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, Settings: s})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.Ping(ctx)
	}
	if err := open("redis://:s3cret-pass@"+srv.Addr+"/3", settings()); err != nil {
		t.Fatalf("password in the URL: %v", err)
	}
	if err := open("redis://"+srv.Addr+"/3", settings("redis.password", "s3cret-pass")); err != nil {
		t.Fatalf("password from the config: %v", err)
	}
	// A wrong password stops the start, with the fix (auth_test.go has
	// the other refusals).
	err := open("redis://:wrong-pass@"+srv.Addr+"/0", settings())
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "check the password") || strings.Contains(err.Error(), "wrong-pass") {
		t.Fatalf("wrong password: %v", err)
	}
	for _, bad := range []string{"redis://", "redis:///0", "http://x", "redis://h:1/notanumber"} {
		_, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: bad, Settings: settings()})
		if !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("URL %q: %v, want ErrInvalid", bad, err)
		}
	}
	_, err = redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: "redis://u:pa55word@h:1/x", Settings: settings()})
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Fatalf("bad URL error shows the password: %v", err)
	}
	// The db number from the config wins over the URL's.
	db, _ := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: "redis://:s3cret-pass@" + srv.Addr + "/3", Settings: settings("redis.db", "5")})
	defer db.Close()
	_ = db.Set(ctx, "c", "k", []byte("v"))
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Password: "s3cret-pass", DB: 5})
	defer raw.Close()
	if v, _ := raw.HGet(ctx, "navius:db:c", "k").Result(); v != "v" {
		t.Fatalf("write did not land in db 5: %q", v)
	}
}

// TestChangeFeed: two databases on one Redis (two instances); a write
// through one reaches the other's subscribers, not its own; when Redis goes
// away the feed is not live, and when it returns subscribers are told to
// drop everything.
func TestChangeFeed(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	open := func() providers.Database {
		db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL(0), Settings: settings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	var got providertest.ChangeRecorder
	b.(providers.ChangeFeed).Changes(got.Add)
	own := make(chan string, 10)
	a.(providers.ChangeFeed).Changes(func(coll, key string) {
		if coll != "" {
			own <- coll + "/" + key
		}
	})
	waitFor(t, "b live", func() bool { return b.(providers.ChangeFeed).Live() })
	waitFor(t, "a live", func() bool { return a.(providers.ChangeFeed).Live() })
	_ = a.Set(ctx, "pets", "tom", []byte("cat"))
	_, _ = a.Delete(ctx, "pets", "tom")
	waitFor(t, "b sees the write", got.Seen("pets/tom"))
	select {
	case m := <-own:
		t.Fatalf("a was told of its own write %s", m)
	case <-time.After(200 * time.Millisecond):
	}

	srv.Stop()
	waitFor(t, "feed down", func() bool { return !b.(providers.ChangeFeed).Live() })
	got.Reset()
	srv.Restart()
	waitFor(t, "feed back", func() bool { return b.(providers.ChangeFeed).Live() })
	waitFor(t, "drop-everything after the gap", got.Seen("/"))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, what, 10*time.Second, cond)
}

// TestClearWithGlobInPrefix: a prefix holding SCAN pattern characters clears
// only its own keys, not those of a prefix the pattern would also match.
func TestClearWithGlobInPrefix(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	open := func(prefix string) providers.Cache {
		c, err := redis.OpenCache(ctx, providers.CacheConfig{URL: srv.URL(0), Settings: settings("redis.key_prefix", prefix)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	star, other := open("a*"), open("ab")
	_ = star.Set(ctx, "k", []byte("v"), 0)
	_ = other.Set(ctx, "k", []byte("keep"), 0)
	if err := star.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := star.Get(ctx, "k"); ok {
		t.Fatal("Clear left its own key")
	}
	if v, ok, _ := other.Get(ctx, "k"); !ok || string(v) != "keep" {
		t.Fatalf("Clear of prefix a* removed prefix ab's key: %q %v", v, ok)
	}
	if st, _ := other.Stats(ctx); st.Entries != 1 {
		t.Fatalf("stats of prefix ab count %d entries, want 1", st.Entries)
	}
}

// TestChangeFeedResubscribesAfterRefusal: a SUBSCRIBE that Redis refuses
// (here by ACL; also LOADING while a restarted Redis loads its data) leaves
// the feed not live, and it subscribes again by itself once allowed.
func TestChangeFeedResubscribesAfterRefusal(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL(0), Settings: settings()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var feed providers.ChangeFeed = db
	gaps := make(chan struct{}, 10)
	feed.Changes(func(coll, key string) {
		if coll == "" {
			gaps <- struct{}{}
		}
	})
	waitFor(t, "live", feed.Live)
	<-gaps
	raw := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer raw.Close()
	if err := raw.Do(ctx, "ACL", "SETUSER", "default", "-subscribe").Err(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "not live", func() bool { return !feed.Live() })
	time.Sleep(300 * time.Millisecond) // several refused attempts
	if feed.Live() {
		t.Fatal("live while SUBSCRIBE is refused")
	}
	if err := raw.Do(ctx, "ACL", "SETUSER", "default", "+subscribe").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "live again", feed.Live)
	select {
	case <-gaps:
	case <-time.After(5 * time.Second):
		t.Fatal("subscribers were not told that changes may have been missed")
	}
	if hs := db.HealthIndicators(); len(hs) != 1 || hs[0].Check(ctx).Status != providers.StatusUp {
		t.Fatalf("redis_changes indicator: %+v", hs)
	}
}
