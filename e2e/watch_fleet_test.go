package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/client"
	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/redistest"
)

// Two instances on one shared database: a watcher on B sees what is
// written through A. These need the engine's versions and expiry (issue
// 19): they fail, saying so, on an engine that lacks them.

// TestWatchFleetPostgres runs the fleet watch tests on a real PostgreSQL;
// the feed's connection is B's LISTEN session, terminated with
// pg_terminate_backend.
func TestWatchFleetPostgres(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	url := "postgres://postgres@" + srv.Addr() + "/postgres?sslmode=disable&application_name="
	common := fleetEnv()
	a := serve(t, bin, t.TempDir(), append([]string{"NAVIUS_DATABASE_URL=" + url + "inst-a"}, common...))
	b := serve(t, bin, t.TempDir(), append([]string{"NAVIUS_DATABASE_URL=" + url + "inst-b"}, common...))
	live := func(p *proc) bool { s, _ := healthComponent(t, p, "postgres_changes"); return s == "UP" }
	kill := func() {
		var n int
		if err := srv.QueryValue(context.Background(), "postgres", &n,
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'inst-b listener'"); err != nil || n != 1 {
			t.Fatalf("terminated %d listeners: %v", n, err)
		}
	}
	testWatchFleet(t, a, b, kill, live)
}

// TestWatchFleetRedis runs them on a real redis-server; the feed's
// connections are the pub/sub ones, killed with CLIENT KILL TYPE pubsub.
func TestWatchFleetRedis(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	env := append([]string{"NAVIUS_DATABASE_URL=" + srv.URL(0)}, fleetEnv()...)
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	live := func(p *proc) bool { up, _ := feedLive(t, p); return up }
	kill := func() { redisCLI(t, srv, "CLIENT", "KILL", "TYPE", "pubsub") }
	testWatchFleet(t, a, b, kill, live)
}

func fleetEnv() []string {
	return []string{"NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h", "NAVIUS_DATABASE_SWEEP_INTERVAL=100ms",
		"NAVIUS_LOG_ACCESS=false", "NAVIUS_HEALTH_CACHE_TTL=0"}
}

// needCapabilities fails unless the instance's database has caps.
func needCapabilities(t *testing.T, p *proc, caps ...string) {
	t.Helper()
	_, body := p.Do(t, "GET", "/info", "")
	var info struct {
		Providers    map[string]string `json:"providers"`
		Capabilities []string          `json:"database_capabilities"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("/info: %v %s", err, body)
	}
	for _, c := range caps {
		if !slices.Contains(info.Capabilities, c) {
			t.Fatalf("the %s database lacks the %q capability (it has %v): this test waits for the engine's versions and expiry (issue 19)",
				info.Providers["database"], c, info.Capabilities)
		}
	}
}

// testWatchFleet: (1) 1,000 writes through A, one at a time: a watcher on
// B sees each put (value and ETag), delete and expiry in order, or a
// resync; the propagation latency is logged. (2) Eight writers through A
// at once, each with keys of its own: per key, B's events never go back
// to an older value and end at the database's final state. (3) The feed's
// connection is killed: the watcher gets a resync, then live events. (4)
// Update from 16 goroutines over both instances loses nothing.
func testWatchFleet(t *testing.T, a, b *proc, kill func(), live func(*proc) bool) {
	for _, p := range []*proc{a, b} {
		pgWaitFor(t, "the change feed", func() bool { return live(p) })
	}
	needCapabilities(t, a, "conditional", "expiry")
	ctx := context.Background()
	ca, cb := mustClient(t, a.URL, ""), mustClient(t, b.URL, "")
	w, err := cb.Watch(ctx, "fleet")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// (1) One write at a time.
	var latencies, fromSend []time.Duration // from A's acknowledgement, from the request's start
	var sent time.Time
	resyncs, expiries := 0, map[client.EventType]int{}
	// await reads B's events until one matches; after a resync (the event
	// awaited may have been lost: the instance said so) it accepts other
	// events, and gives up waiting after 2s.
	await := func(what string, match func(client.Event) bool, acked time.Time) {
		t.Helper()
		resynced := false
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e, ok := <-w.Events():
				switch {
				case !ok:
					t.Fatalf("the watch ended: %v", w.Err())
				case match(e):
					if !resynced {
						latencies = append(latencies, time.Since(acked))
						fromSend = append(fromSend, time.Since(sent))
					}
					return
				case e.Type == client.EventResync:
					resyncs++
					resynced = true
					deadline = time.After(2 * time.Second)
				case !resynced:
					t.Fatalf("waiting for %s, B's watcher got %s %s %q", what, e.Type, e.Key, e.Value)
				}
			case <-deadline:
				if resynced {
					return
				}
				t.Fatalf("B's watcher did not see %s within 10s", what)
			}
		}
	}
	exists := map[string]bool{}
	for i := range 1000 {
		key := fmt.Sprintf("k%d", i%10)
		sent = time.Now()
		switch {
		case i%10 == 9 && exists[key]:
			if err := ca.Delete(ctx, "fleet", key); err != nil {
				t.Fatal(err)
			}
			exists[key] = false
			await("delete "+key, func(e client.Event) bool { return e.Type == client.EventDelete && e.Key == key }, time.Now())
		case i%100 == 50:
			v := "short-lived-" + strconv.Itoa(i)
			etag, err := ca.Put(ctx, "fleet", key, []byte(v), client.TTL(300*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			await("put "+key, func(e client.Event) bool {
				return e.Type == client.EventPut && e.Key == key && string(e.Value) == v && e.ETag == etag
			}, time.Now())
			// Expired: every shipped engine's sweep names what it removed
			// and its feed says why, so B sees an expire, whichever
			// instance swept it.
			deadline := time.After(10 * time.Second)
			for seen := false; !seen; {
				select {
				case e := <-w.Events():
					if e.Key == key || e.Type == client.EventResync {
						expiries[e.Type]++
						seen = true
						if e.Type != client.EventExpire {
							t.Errorf("the expiry of %s reached B as %s %s, want expire", key, e.Type, e.Reason)
						}
					}
				case <-deadline:
					t.Fatalf("no expiry of %s seen on B within 10s", key)
				}
			}
			exists[key] = false
		default:
			v := "v" + strconv.Itoa(i)
			etag, err := ca.Put(ctx, "fleet", key, []byte(v))
			if err != nil {
				t.Fatal(err)
			}
			exists[key] = true
			await("put "+key+"="+v, func(e client.Event) bool {
				return e.Type == client.EventPut && e.Key == key && string(e.Value) == v && e.ETag == etag
			}, time.Now())
		}
	}
	slices.Sort(latencies)
	slices.Sort(fromSend)
	q := func(l []time.Duration, q float64) time.Duration {
		return l[int(q*float64(len(l)-1))].Round(10 * time.Microsecond)
	}
	t.Logf("A→B propagation over %d writes: acknowledged on A to event on B p50 %s, p99 %s, max %s; request sent to A to event on B p50 %s, p99 %s; %d resyncs; expiries seen as %v",
		len(latencies), q(latencies, 0.5), q(latencies, 0.99), q(latencies, 1), q(fromSend, 0.5), q(fromSend, 0.99), resyncs, expiries)
	if resyncs > 10 {
		t.Errorf("%d resyncs in 1,000 writes with a healthy feed", resyncs)
	}

	// (2) Eight writers at once, each with its keys: per key B's events
	// never go back, and end at the final value.
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for wr := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := ca.Put(ctx, "fleet", fmt.Sprintf("w%d-%d", wr, i%3), []byte(strconv.Itoa(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	final := map[string]int{}
	for wr := range writers {
		for i := range each {
			final[fmt.Sprintf("w%d-%d", wr, i%3)] = i // ends at the last i of each key
		}
	}
	// Every value A acknowledged reaches B's watcher, or its key gets a
	// resync (before the event that skips it, or after).
	last := map[string]int{}
	skipped, told := 0, 0
	owed := map[string]int{}    // skipped values no resync has told of yet
	credit := map[string]bool{} // a resync came before the next skip
	resync := func(e client.Event) {
		told++
		for k := range final {
			if e.Key != "" && e.Key != k {
				continue
			}
			if owed[k] > 0 {
				owed[k] = 0
			} else {
				credit[k] = true
			}
		}
	}
	unpaid := func() int {
		n := 0
		for _, o := range owed {
			n += o
		}
		return n
	}
	deadline := time.After(30 * time.Second)
	for done := 0; done < len(final) || unpaid() > 0; {
		select {
		case e := <-w.Events():
			if e.Type == client.EventResync {
				resync(e)
				continue
			}
			n, err := strconv.Atoi(string(e.Value))
			if e.Type != client.EventPut || err != nil || !strings.HasPrefix(e.Key, "w") {
				t.Fatalf("unexpected event %s %s %q", e.Type, e.Key, e.Value)
			}
			prev, seen := last[e.Key]
			if seen && n <= prev {
				t.Fatalf("%s went back or repeated: %d after %d", e.Key, n, prev)
			}
			if seen && n > prev+3 || !seen && n > int(e.Key[len(e.Key)-1]-'0') {
				skipped++ // a value overwritten before B read it back
				if !credit[e.Key] {
					owed[e.Key]++
				}
			}
			credit[e.Key] = false
			last[e.Key] = n
			if n == final[e.Key] {
				done++
			}
		case <-deadline:
			t.Fatalf("within 30s B's watcher did not reach the final values (%v, want %v) or a resync for every skipped value (%v owed)", last, final, owed)
		}
	}
	t.Logf("%d concurrent writes through A: B's watcher converged on every key, never going back; %d events skipped values overwritten before B read them back, and each key's skips came with a resync (%d resyncs)", writers*each, skipped, told)

	// (3) The feed's connection dies: a resync, then live events again.
	kill()
	sawResync := false
	for deadline := time.After(20 * time.Second); !sawResync; {
		select {
		case e := <-w.Events():
			sawResync = e.Type == client.EventResync
		case <-deadline:
			t.Fatal("no resync on B after its feed's connection was killed")
		}
	}
	pgWaitFor(t, "B's feed to be back", func() bool { return live(b) })
	etag, err := ca.Put(ctx, "fleet", "after", []byte("kill"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.After(10 * time.Second); ; {
		var e client.Event
		select {
		case e = <-w.Events():
		case <-deadline:
			t.Fatal("no live event on B after its feed came back")
		}
		if e.Type == client.EventResync {
			continue // the feed coming back is a gap too
		}
		if e.Type != client.EventPut || e.Key != "after" || e.ETag != etag {
			t.Fatalf("after the feed came back: %s %s %q, want put after", e.Type, e.Key, e.Value)
		}
		break
	}

	// (4) Update over both instances: nothing lost.
	acked, final2, took := clientIncrements(t, []string{a.URL, b.URL}, 16, 50)
	t.Logf("%d increments through client.Update over two instances in %s (%.0f/s), final value %d", acked, took.Round(time.Millisecond), float64(acked)/took.Seconds(), final2)
	if acked != 800 || final2 != acked {
		t.Fatalf("%d increments acknowledged, final value %d: %d lost", acked, final2, acked-final2)
	}
	_ = a.Stop(t)
	_ = b.Stop(t)
}
