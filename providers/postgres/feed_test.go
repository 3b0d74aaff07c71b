package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, what, 10*time.Second, cond)
}

// TestChangeFeed: two databases on one table (two instances); a write or a
// delete through one reaches the other's subscribers, never its own, in
// both notify modes; a delete of a missing key announces nothing; another
// table's writes are not delivered; names too long for a notification are
// announced as "drop everything"; with notify off nothing is announced.
func TestChangeFeed(t *testing.T) {
	for _, mode := range []string{"after_write", "with_write"} {
		t.Run(mode, func(t *testing.T) { testChangeFeed(t, mode) })
	}
	t.Run("off", func(t *testing.T) {
		ctx := context.Background()
		tbl := freshTable()
		a := open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.notify", "off")
		b := open(t, srv.URL("postgres"), "postgres.table", tbl)
		var atB providertest.ChangeRecorder
		b.(providers.ChangeFeed).Changes(atB.Add)
		waitFor(t, "b live", b.(providers.ChangeFeed).Live)
		_ = a.Set(ctx, "pets", "tom", []byte("cat"))
		_, _ = a.Delete(ctx, "pets", "tom")
		_ = b.Set(ctx, "pets", "rex", []byte("dog")) // b announces; b ignores its own
		time.Sleep(300 * time.Millisecond)
		if got := atB.All(); len(got) != 1 || got[0] != "/" {
			t.Fatalf("with notify off, b was told %v", got)
		}
	})
}

func testChangeFeed(t *testing.T, mode string) {
	ctx := context.Background()
	tbl := freshTable()
	a := open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.notify", mode)
	b := open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.notify", mode)
	elsewhere := open(t, srv.URL("postgres"), "postgres.table", freshTable(), "postgres.notify", mode)
	var atB, atA providertest.ChangeRecorder
	b.(providers.ChangeFeed).Changes(atB.Add)
	a.(providers.ChangeFeed).Changes(atA.Add)
	waitFor(t, "b live", b.(providers.ChangeFeed).Live)
	waitFor(t, "a live", a.(providers.ChangeFeed).Live)
	if atB.Count("/") != 1 {
		t.Fatalf("going live did not tell b to drop everything once: %v", atB.All())
	}

	if err := a.Set(ctx, "pets", "tom", []byte("cat")); err != nil {
		t.Fatal(err)
	}
	if err := elsewhere.Set(ctx, "pets", "rex", []byte("dog")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Delete(ctx, "pets", "nobody"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Delete(ctx, "pets", "tom"); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "a b", "c d/e", []byte("spaces")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b sees the write and the delete", func() bool { return atB.Count("pets/tom") == 2 })
	waitFor(t, "b sees names with spaces and slashes", atB.Seen("a b/c d/e"))
	long := strings.Repeat("k", 8000) // compresses into the index, too long to name in a payload
	if err := a.Set(ctx, "pets", long, []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a change too long to name drops everything", func() bool { return atB.Count("/") == 2 })
	time.Sleep(200 * time.Millisecond)
	if n := atB.Count("pets/nobody") + atB.Count("pets/rex"); n != 0 {
		t.Fatalf("b was told of a delete that removed nothing or of another table: %v", atB.All())
	}
	for _, g := range atA.All() {
		if g != "/" {
			t.Fatalf("a was told of its own write %s", g)
		}
	}
}

// TestListenerLoss terminates the listening backend: the feed goes down
// (telling subscribers to drop everything, since writes may now go
// unannounced), reconnects by itself and tells them again. While it cannot
// reconnect (CONNECT revoked) it stays down and says why in its health
// indicator; once allowed it is live again and changes flow.
func TestListenerLoss(t *testing.T) {
	ctx := context.Background()
	srv.MustExec(t, "postgres", "CREATE ROLE feeder LOGIN")
	srv.MustExec(t, "postgres", "CREATE DATABASE feeddb OWNER feeder")
	srv.MustExec(t, "postgres", "REVOKE CONNECT ON DATABASE feeddb FROM PUBLIC")
	srv.MustExec(t, "postgres", "GRANT CONNECT ON DATABASE feeddb TO feeder")
	url := "postgres://feeder@" + srv.Addr() + "/feeddb?sslmode=disable&application_name=losstest"
	a := open(t, url)
	b := open(t, url)
	var got providertest.ChangeRecorder
	feed := b.(providers.ChangeFeed)
	feed.Changes(got.Add)
	waitFor(t, "live", feed.Live)
	terminate := func() {
		t.Helper()
		var n int
		if err := srv.QueryValue(ctx, "postgres", &n, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'losstest listener'"); err != nil || n != 1 {
			t.Fatalf("terminated %d listeners: %v", n, err)
		}
	}

	terminate()
	waitFor(t, "down, then back by itself", func() bool { return got.Count("/") >= 3 && feed.Live() })
	_ = a.Set(ctx, "c", "k1", []byte("v"))
	waitFor(t, "changes flow after the reconnect", got.Seen("c/k1"))

	srv.MustExec(t, "postgres", "REVOKE CONNECT ON DATABASE feeddb FROM feeder")
	before := got.Count("/")
	terminate()
	waitFor(t, "down", func() bool { return !feed.Live() })
	waitFor(t, "told to drop everything on the loss", func() bool { return got.Count("/") == before+1 })
	time.Sleep(500 * time.Millisecond) // several refused attempts
	if feed.Live() {
		t.Fatal("live while it cannot connect")
	}
	hs := b.(providers.HealthContributor).HealthIndicators()
	if len(hs) != 2 || hs[1].Name != "postgres_changes" {
		t.Fatalf("indicators: %+v", hs)
	}
	r := hs[1].Check(ctx)
	if r.Status != providers.StatusDown || !strings.Contains(r.Error, "permission denied") || !strings.Contains(r.Error, "1s") {
		t.Fatalf("postgres_changes while down: %+v", r)
	}
	if feed.FallbackTTL() != time.Second {
		t.Fatalf("fallback TTL %s", feed.FallbackTTL())
	}
	// The pool's connections still serve while the listener is out.
	if err := a.Set(ctx, "c", "k2", []byte("v")); err != nil {
		t.Fatal(err)
	}

	srv.MustExec(t, "postgres", "GRANT CONNECT ON DATABASE feeddb TO feeder")
	waitFor(t, "live again", feed.Live)
	waitFor(t, "told to drop everything on the reconnect", func() bool { return got.Count("/") == before+2 })
	if r := hs[1].Check(ctx); r.Status != providers.StatusUp {
		t.Fatalf("postgres_changes after the reconnect: %+v", r)
	}
	_ = a.Set(ctx, "c", "k3", []byte("v"))
	waitFor(t, "changes flow again", got.Seen("c/k3"))
	if got.Count("c/k2") != 0 {
		t.Fatal("a change made while nobody listened was delivered")
	}
}

// TestFeedStopsWithClose: closing the database ends the listener session.
func TestFeedStopsWithClose(t *testing.T) {
	ctx := context.Background()
	db := open(t, srv.URL("postgres")+"&application_name=closetest", "postgres.table", freshTable())
	db.(providers.ChangeFeed).Changes(func(string, string) {})
	waitFor(t, "live", db.(providers.ChangeFeed).Live)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db.(providers.ChangeFeed).Live() {
		t.Fatal("live after Close")
	}
	waitFor(t, "the listener's backend to go", func() bool {
		var n int
		_ = srv.QueryValue(ctx, "postgres", &n, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'closetest%'")
		return n == 0
	})
}

// TestAnnounceFailure takes the right to NOTIFY away from navius's role:
// with after_write the write stands but fails with ErrUnavailable saying
// that other instances were not told, and this instance's own subscribers
// drop the key; with with_write nothing is written at all.
func TestAnnounceFailure(t *testing.T) {
	ctx := context.Background()
	srv.MustExec(t, "postgres", "CREATE ROLE notifier LOGIN")
	srv.MustExec(t, "postgres", "CREATE DATABASE notifydb OWNER notifier")
	srv.MustExec(t, "notifydb", "REVOKE EXECUTE ON FUNCTION pg_notify(text, text) FROM PUBLIC")
	url := "postgres://notifier@" + srv.Addr() + "/notifydb?sslmode=disable"
	after := open(t, url, "postgres.table", "after_kv")
	var local providertest.ChangeRecorder
	after.(providers.ChangeFeed).Changes(local.Add)
	err := after.Set(ctx, "c", "k", []byte("v"))
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "written, but other instances could not be told") {
		t.Fatalf("Set without the right to NOTIFY: %v", err)
	}
	if v, err := after.Get(ctx, "c", "k"); err != nil || string(v) != "v" {
		t.Fatalf("the write did not stand: %q %v", v, err)
	}
	if local.Count("c/k") != 1 {
		t.Fatalf("local subscribers were not told to drop the key: %v", local.All())
	}
	if existed, err := after.Delete(ctx, "c", "k"); !existed || !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Delete without the right to NOTIFY: %v %v", existed, err)
	}

	with := open(t, url, "postgres.table", "with_kv", "postgres.notify", "with_write")
	if err := with.Set(ctx, "c", "k", []byte("v")); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("with_write Set without the right to NOTIFY: %v", err)
	}
	if _, err := with.Get(ctx, "c", "k"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("with_write: a write whose announcement failed was kept: %v", err)
	}
	off := open(t, url, "postgres.table", "off_kv", "postgres.notify", "off")
	if err := off.Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatalf("notify off needs no NOTIFY: %v", err)
	}
}
