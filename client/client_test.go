package client_test

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/client"
	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/watch"
)

func newClient(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.New(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://h", "http://"} {
		if _, err := client.New(u, client.Options{}); err == nil || !strings.Contains(err.Error(), "http://") {
			t.Errorf("New(%q) = %v, want an error naming the form", u, err)
		}
	}
}

// TestReadWrite: values with their ETags, conditional writes and deletes,
// and the errors they give, against navius's own handler.
func TestReadWrite(t *testing.T) {
	n := startNavius(watch.Options{})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{})
	ctx := context.Background()

	if _, err := c.Get(ctx, "pets", "tom"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get of nothing: %v", err)
	}
	etag, err := c.Put(ctx, "pets", "tom", []byte("cat"), client.CreateOnly())
	if err != nil || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("Put = %q, %v", etag, err)
	}
	e, err := c.Get(ctx, "pets", "tom")
	if err != nil || string(e.Value) != "cat" || e.ETag != etag || e.Key != "tom" {
		t.Fatalf("Get = %+v, %v; want cat with %s", e, err, etag)
	}
	_, err = c.Put(ctx, "pets", "tom", []byte("dog"), client.CreateOnly())
	var ae *client.Error
	if !errors.Is(err, client.ErrPrecondition) || !errors.As(err, &ae) || ae.ETag != etag || ae.Code != "precondition_failed" || ae.RequestID == "" {
		t.Fatalf("create-only over an entry: %v (%+v)", err, ae)
	}
	etag2, err := c.Put(ctx, "pets", "tom", []byte("lion"), client.IfMatch(etag))
	if err != nil || etag2 == etag {
		t.Fatalf("Put If-Match = %q, %v", etag2, err)
	}
	if _, err := c.Put(ctx, "pets", "tom", []byte("old"), client.IfMatch(etag)); !errors.Is(err, client.ErrPrecondition) {
		t.Fatalf("Put with a stale ETag: %v", err)
	}
	if _, err := c.Put(ctx, "pets", "tom", []byte("bare"), client.IfMatch(strings.Trim(etag2, `"`))); err != nil {
		t.Fatalf("Put with a bare version: %v", err)
	}
	if err := c.Delete(ctx, "pets", "tom", client.IfMatch(etag2)); !errors.Is(err, client.ErrPrecondition) {
		t.Fatalf("Delete with a stale ETag: %v", err)
	}
	if err := c.Delete(ctx, "pets", "tom", client.IfExists()); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "pets", "tom"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Delete of nothing: %v", err)
	}
	if err := c.Delete(ctx, "pets", "tom", client.TTL(time.Second)); err == nil {
		t.Fatal("Delete took a TTL")
	}
	if _, err := c.Put(ctx, "bad name", "k", nil); !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "invalid_collection" {
		t.Fatalf("bad collection: %v", err)
	}
	if _, err := c.Put(ctx, "pets", "empty", nil); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "pets", "empty"); err != nil || e.Value == nil || len(e.Value) != 0 {
		t.Fatalf("an empty value reads as %#v, %v (want empty, not nil)", e.Value, err)
	}
}

// TestTTL: an entry written with a TTL is gone once it runs out.
func TestTTL(t *testing.T) {
	n := startNavius(watch.Options{})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{})
	ctx := context.Background()
	if _, err := c.Put(ctx, "s", "k", []byte("v"), client.TTL(50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "s", "k"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if _, err := c.Get(ctx, "s", "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("after its TTL: %v", err)
	}
}

// TestList walks a collection of several pages: every entry once, with
// its ETag, bytes that are not UTF-8 intact; a filter; stopping early.
func TestList(t *testing.T) {
	n := startNavius(watch.Options{})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{})
	ctx := context.Background()
	want := map[string]string{}
	for i := range 250 {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)
		if i == 7 {
			v = "\xff\x00bytes"
		}
		etag, err := c.Put(ctx, "big", k, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		want[k] = v + etag
	}
	got := map[string]string{}
	for e, err := range c.List(ctx, "big", client.PageSize(40)) {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[e.Key]; dup {
			t.Fatalf("%s listed twice", e.Key)
		}
		got[e.Key] = string(e.Value) + e.ETag
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d entries, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: listed %q, want %q", k, got[k], v)
		}
	}
	var filtered []string
	for e, err := range c.List(ctx, "big", client.Filter("v24")) {
		if err != nil {
			t.Fatal(err)
		}
		filtered = append(filtered, e.Key)
	}
	if strings.Join(filtered, ",") != "k024,k240,k241,k242,k243,k244,k245,k246,k247,k248,k249" {
		t.Errorf("filtered: %v", filtered)
	}
	seen := 0
	for range c.List(ctx, "big", client.PageSize(10)) {
		if seen++; seen == 3 {
			break
		}
	}
	for _, err := range c.List(ctx, "bad name") {
		if err == nil {
			t.Fatal("listing a bad collection gave an entry")
		}
	}
}

// TestBatch: a batch applies whole, or not at all with the failed
// operation named.
func TestBatch(t *testing.T) {
	n := startNavius(watch.Options{})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{})
	ctx := context.Background()
	old, _ := c.Put(ctx, "stock", "A1", []byte("42"))
	res, err := c.Batch(ctx,
		client.PutOp("orders", "o-17", []byte(`{"sku":"A1"}`), client.CreateOnly()),
		client.PutOp("stock", "A1", []byte("41"), client.IfMatch(old)),
		client.PutOp("bin", "b", []byte{0xff, 0}, client.TTL(time.Hour)),
		client.DeleteOp("carts", "ana"))
	if err != nil || len(res) != 4 || res[0].ETag == "" || res[1].ETag == "" || res[3].Deleted {
		t.Fatalf("Batch = %+v, %v", res, err)
	}
	if e, _ := c.Get(ctx, "bin", "b"); string(e.Value) != "\xff\x00" {
		t.Errorf("bytes through a batch: %q", e.Value)
	}
	_, err = c.Batch(ctx, client.PutOp("stock", "A1", []byte("40"), client.IfMatch(old)), client.DeleteOp("orders", "o-17"))
	var ae *client.Error
	if !errors.Is(err, client.ErrPrecondition) || !errors.As(err, &ae) || ae.Operation != 0 {
		t.Fatalf("failed batch: %v (%+v)", err, ae)
	}
	if _, err := c.Get(ctx, "orders", "o-17"); err != nil {
		t.Fatalf("a failed batch deleted: %v", err)
	}
}

// TestUpdate: 16 goroutines each add 1 fifty times through Update: every
// increment counts.
func TestUpdate(t *testing.T) {
	n := startNavius(watch.Options{})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{})
	ctx := context.Background()
	const workers, each = 16, 50
	err := harness.Concurrently(workers, each, func(int, int) error {
		_, err := c.Update(ctx, "counters", "n", harness.Increment)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Get(ctx, "counters", "n")
	if err != nil || string(e.Value) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q, %v; want %d", e.Value, err, workers*each)
	}
	stop := errors.New("no")
	if _, err := c.Update(ctx, "counters", "n", func([]byte) ([]byte, error) { return nil, stop }); err != stop {
		t.Fatalf("fn's error: %v", err)
	}
}

func wantEvent(t *testing.T, w *client.Watcher, typ client.EventType, key, value string) client.Event {
	t.Helper()
	e := harness.NextEvent(t, w, 5*time.Second)
	if e.Type != typ || e.Key != key || string(e.Value) != value || e.ID == "" {
		t.Fatalf("event %+v, want %s %s %q with an id", e, typ, key, value)
	}
	return e
}

// TestWatch: events in order, with ETags; a prefix; the watch survives a
// dropped connection without missing anything; resuming after an id the
// server no longer holds starts with a resync.
func TestWatch(t *testing.T) {
	n := startNavius(watch.Options{History: 8})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{Retry: client.Retry{MinBackoff: time.Millisecond}})
	// The writer makes a connection per request: dropping the watch's
	// connections below must not fail a write on an idle one.
	writer := newClient(t, n.URL, client.Options{HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	ctx := context.Background()
	w, err := c.Watch(ctx, "pets")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	etag, _ := writer.Put(ctx, "pets", "tom", []byte("cat"))
	if e := wantEvent(t, w, client.EventPut, "tom", "cat"); e.ETag != etag || e.Size != 3 {
		t.Errorf("put event %+v, want ETag %s", e, etag)
	}
	_ = writer.Delete(ctx, "pets", "tom")
	wantEvent(t, w, client.EventDelete, "tom", "")
	_, _ = writer.Put(ctx, "pets", "fly", []byte("x"), client.TTL(10*time.Millisecond))
	wantEvent(t, w, client.EventPut, "fly", "x")
	time.Sleep(20 * time.Millisecond)
	n.sweep()
	wantEvent(t, w, client.EventExpire, "fly", "")

	n.CloseClientConnections() // the stream drops; writes made meanwhile are not lost
	if _, err := writer.Put(ctx, "pets", "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Put(ctx, "pets", "b", []byte("2")); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, client.EventPut, "a", "1")
	wantEvent(t, w, client.EventPut, "b", "2")

	p, err := c.Watch(ctx, "pets", client.Prefix("user:"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = writer.Put(ctx, "pets", "b", []byte("3"))
	_, _ = writer.Put(ctx, "pets", "user:1", []byte("u"))
	wantEvent(t, p, client.EventPut, "user:1", "u")
	last := w.LastEventID()
	p.Close()
	if p.Err() != nil {
		t.Errorf("Err after Close: %v", p.Err())
	}

	for i := range 10 { // more than the server's history of 8
		_, _ = writer.Put(ctx, "pets", "b", []byte(strconv.Itoa(i)))
	}
	late, err := c.Watch(ctx, "pets", client.After(last))
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if e := harness.NextEvent(t, late, 5*time.Second); e.Type != client.EventResync || e.Reason == "" {
		t.Fatalf("resuming after a lost id: %+v, want resync", e)
	}
}

// TestWatchEnds: a watch refused for good fails at once; one whose context
// ends closes its channel with the context's error.
func TestWatchEnds(t *testing.T) {
	n := startNavius(watch.Options{})
	defer n.Close()
	c := newClient(t, n.URL, client.Options{})
	if _, err := c.Watch(context.Background(), "bad name"); err == nil || errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("watching a bad collection: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.Watch(ctx, "pets")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range w.Events() {
	}
	if !errors.Is(w.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", w.Err())
	}
}

// TestRetries against a server that fails on purpose: reads are retried
// on 503, writes only when the server asked for it with Retry-After (it
// refused before doing anything) or could not be reached.
func TestRetries(t *testing.T) {
	var calls atomic.Int32
	var retryAfter atomic.Value
	retryAfter.Store("")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if ra := retryAfter.Load().(string); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"code":"unavailable","message":"the database is unavailable","request_id":"r1"}}`)
	}))
	defer ts.Close()
	c := newClient(t, ts.URL, client.Options{Retry: client.Retry{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}})
	ctx := context.Background()

	_, err := c.Get(ctx, "c", "k")
	var ae *client.Error
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &ae) || ae.RequestID != "r1" || calls.Load() != 3 {
		t.Fatalf("Get: %v after %d calls, want ErrUnavailable after 3", err, calls.Load())
	}
	calls.Store(0)
	if _, err := c.Put(ctx, "c", "k", []byte("v")); !errors.Is(err, client.ErrUnavailable) || calls.Load() != 1 {
		t.Fatalf("Put on a 503 without Retry-After: %v after %d calls, want 1 (it may have been applied)", err, calls.Load())
	}
	calls.Store(0)
	retryAfter.Store("0")
	if _, err := c.Put(ctx, "c", "k", []byte("v")); !errors.Is(err, client.ErrUnavailable) || calls.Load() != 3 {
		t.Fatalf("Put on a 503 with Retry-After: %v after %d calls, want 3", err, calls.Load())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	down := newClient(t, "http://"+addr, client.Options{Retry: client.Retry{Attempts: 2, MinBackoff: time.Millisecond}})
	if _, err := down.Put(ctx, "c", "k", []byte("v")); !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Put to nothing: %v", err)
	}
}

// TestStandardLibraryOnly: the client imports nothing outside the standard
// library, so that any Go program can take it.
func TestStandardLibraryOnly(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s, outside the standard library", f, path)
			}
		}
	}
}
