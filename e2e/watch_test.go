package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/client"
	"github.com/navius-dev/navius/internal/harness"
)

// rss is the resident memory of a running navius, in bytes.
func rss(t *testing.T, p *proc) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// metric reads one sample of /metrics (0 when absent).
func metric(t *testing.T, p *proc, token, sample string) float64 {
	t.Helper()
	_, b := harness.Get(t, p.URL+"/metrics", token)
	for _, line := range strings.Split(b, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func wantEvent(t *testing.T, w *client.Watcher, typ client.EventType, key, value string) client.Event {
	t.Helper()
	e := harness.NextEvent(t, w, 10*time.Second)
	if e.Type != typ || e.Key != key || string(e.Value) != value {
		t.Fatalf("event %s %s %q (%s), want %s %s %q", e.Type, e.Key, e.Value, e.Reason, typ, key, value)
	}
	return e
}

// Tokens of the tests that turn authentication on (at least 16 characters).
const (
	readToken    = "rd-0123456789abcdef"
	writeToken   = "wr-0123456789abcdef"
	metricsToken = "mt-0123456789abcdef"
)

func mustClient(t *testing.T, url, token string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{Token: token, Retry: client.Retry{MinBackoff: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWatch runs a watch against a real binary: the read scope is needed,
// puts, deletes and expiries arrive in order with their ETags, a prefix
// narrows the keys, an idle stream gets heartbeats, and the metrics count
// it all.
func TestWatch(t *testing.T) {
	bin, _ := binary(t, "default")
	env := []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_AUTH_TOKENS=read:" + readToken + ",write:" + writeToken + ",metrics:" + metricsToken, "NAVIUS_WATCH_HEARTBEAT=200ms",
		"NAVIUS_DATABASE_SWEEP_INTERVAL=50ms", "NAVIUS_LOG_ACCESS=false"}
	p := serve(t, bin, t.TempDir(), env)
	ctx := context.Background()
	writer := mustClient(t, p.URL, writeToken)

	var ae *client.Error
	if _, err := mustClient(t, p.URL, "").Watch(ctx, "pets"); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("watch without a token: %v", err)
	}
	if _, err := writer.Watch(ctx, "pets"); !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("watch with a write token: %v", err)
	}
	reader := mustClient(t, p.URL, readToken)
	w, err := reader.Watch(ctx, "pets")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	users, err := reader.Watch(ctx, "pets", client.Prefix("user:"))
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()

	etag, err := writer.Put(ctx, "pets", "tom", []byte("cat"))
	if err != nil {
		t.Fatal(err)
	}
	if e := wantEvent(t, w, client.EventPut, "tom", "cat"); e.ETag != etag {
		t.Errorf("put event ETag %s, the write's %s", e.ETag, etag)
	}
	if _, err := writer.Put(ctx, "pets", "user:ana", []byte("ana"), client.TTL(300*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := writer.Delete(ctx, "pets", "tom"); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, client.EventPut, "user:ana", "ana")
	wantEvent(t, w, client.EventDelete, "tom", "")
	wantEvent(t, w, client.EventExpire, "user:ana", "")
	wantEvent(t, users, client.EventPut, "user:ana", "ana")
	wantEvent(t, users, client.EventExpire, "user:ana", "")

	// Idle for a second: heartbeats keep the stream alive, no event comes.
	select {
	case e := <-w.Events():
		t.Fatalf("an event while idle: %+v", e)
	case <-time.After(time.Second):
	}
	if _, err := writer.Put(ctx, "pets", "rex", []byte("dog")); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, client.EventPut, "rex", "dog")
	if n := metric(t, p, metricsToken, "navius_watch_watchers"); n != 2 {
		t.Errorf("navius_watch_watchers = %v, want 2", n)
	}
	if n := metric(t, p, metricsToken, "navius_watch_events_sent_total"); n < 6 {
		t.Errorf("navius_watch_events_sent_total = %v, want at least the 6 events read", n)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestWatchSlowWatcher: a watcher that never reads is cut off once its
// buffer overflows, with memory that stays bounded while data fifty times
// its buffer goes by; another watcher keeps up throughout.
// RSS before and after is logged.
func TestWatchSlowWatcher(t *testing.T) {
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_CACHE_URL=none", "NAVIUS_WATCH_BUFFER=64",
		"NAVIUS_WATCH_HISTORY=64", "NAVIUS_WATCH_MAX_VALUE_BYTES=64KiB", "NAVIUS_LOG_ACCESS=false"})
	ctx := context.Background()
	c := mustClient(t, p.URL, "")
	fast, err := c.Watch(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()

	// The slow watcher: it sends its request and never reads, with a
	// small receive buffer.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/c?watch=1 HTTP/1.1\r\nHost: navius\r\n\r\n")
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		harness.WaitFor(t, what, 30*time.Second, cond)
	}
	waitFor("both watchers", func() bool { return metric(t, p, "", "navius_watch_watchers") == 2 })

	value := []byte(strings.Repeat("v", 60<<10)) // 60 KiB: 64 events hold under 4 MiB
	const writes = 3200                          // 50 buffers' worth: 187 MiB through the hub
	before := rss(t, p)
	peak := before
	for i := range writes {
		if _, err := c.Put(ctx, "c", "k", value); err != nil {
			t.Fatal(err)
		}
		if e := harness.NextEvent(t, fast, 10*time.Second); e.Type != client.EventPut || e.Size != len(value) {
			t.Fatalf("write %d: the fast watcher got %s %s (%d bytes)", i, e.Type, e.Reason, e.Size)
		}
		if i%200 == 0 {
			peak = max(peak, rss(t, p))
		}
	}
	waitFor("the slow watcher to be cut off", func() bool { return metric(t, p, "", "navius_watch_slow_closes_total") >= 1 })
	waitFor("one watcher left", func() bool { return metric(t, p, "", "navius_watch_watchers") == 1 })
	after := rss(t, p)
	t.Logf("RSS before %.1f MiB, peak %.1f MiB, after %.1f MiB, with %d MiB written past a watcher that never read",
		float64(before)/(1<<20), float64(max(peak, after))/(1<<20), float64(after)/(1<<20), writes*len(value)>>20)
	if grew := max(peak, after) - before; grew > 128<<20 {
		t.Errorf("RSS grew %d MiB: the slow watcher's data is not bounded", grew>>20)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestWatchGracefulStop: SIGTERM with 100 open streams ends each of them
// cleanly, and navius stops within the shutdown timeout without cutting
// requests off.
func TestWatchGracefulStop(t *testing.T) {
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_SERVER_SHUTDOWN_TIMEOUT=10s"})
	const n = 100
	ended := make(chan error, n)
	var opened sync.WaitGroup
	for i := range n {
		opened.Add(1)
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/api/v1/c%d?watch=1", p.URL, i%7))
			opened.Done()
			if err != nil {
				ended <- err
				return
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, bufio.NewReader(resp.Body))
			ended <- err // nil: the response ended cleanly (its last chunk came)
		}()
	}
	opened.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for metric(t, p, "", "navius_watch_watchers") < n {
		if time.Now().After(deadline) {
			t.Fatal("the watchers did not all open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	if err := p.Stop(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Logs())
	}
	took := time.Since(start)
	for range n {
		if err := <-ended; err != nil {
			t.Errorf("a stream did not end cleanly: %v", err)
		}
	}
	logs := p.Logs()
	if strings.Contains(logs, "did not finish in time") || !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("the stop was not graceful:\n%s", logs)
	}
	t.Logf("stopped with %d open streams in %s (shutdown timeout 10s)", n, took.Round(time.Millisecond))
}
