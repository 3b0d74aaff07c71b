package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/internal/watch"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// watchFixture serves a store with a watch hub, as navius does.
func watchFixture(t *testing.T, opts watch.Options) (*fixture, *watch.Hub) {
	t.Helper()
	if opts.MaxWatchers == 0 {
		opts.MaxWatchers = 10
	}
	if opts.Buffer == 0 {
		opts.Buffer = 64
	}
	var st *store.Store
	hub := watch.New(opts, func(c, k string) (providers.Entry, error) { return st.Latest(context.Background(), c, k) })
	st = store.New(memory.NewDatabase(), nil, store.Options{Timeout: time.Second, Publish: hub})
	logs, err := logging.NewService(logging.Options{Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Store: st, Health: health.New(time.Second, 0, "v1"), Log: logs.Logger(), MaxBody: 1 << 20, MaxTTL: time.Hour,
		MaxBatchOps: 8, MaxBatchBytes: 1 << 20, Watch: hub})
	s.SetReady(true)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.WriteTimeout = 200 * time.Millisecond // a stream must outlive it
	ts.Config.ReadTimeout = 200 * time.Millisecond
	ts.Config.IdleTimeout = time.Minute
	ts.Config.RegisterOnShutdown(hub.Close)
	ts.Start()
	t.Cleanup(func() { hub.Close(); ts.Close(); _ = logs.Close(context.Background()); _ = st.Close() })
	return &fixture{Server: ts, srv: s, logs: logs}, hub
}

// stream is an open watch stream, read as a client reads it.
type stream struct {
	resp     *http.Response
	r        *bufio.Reader
	comments int
}

func openStream(t *testing.T, f *fixture, path string, hdr ...string) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", f.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Cache-Control") != "no-store" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("watch %s: %d %q %s", path, resp.StatusCode, resp.Header, b)
	}
	return &stream{resp: resp, r: bufio.NewReader(resp.Body)}
}

type sseEvent struct{ id, name, data string }

// next reads the next event, counting comment lines on the way; io.EOF
// when the server ended the stream.
func (s *stream) next() (sseEvent, error) {
	var e sseEvent
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && e.name != "":
			return e, nil
		case strings.HasPrefix(line, ":"):
			s.comments++
		case strings.HasPrefix(line, "id: "):
			e.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.data = line[6:]
		}
	}
}

func (s *stream) want(t *testing.T, name, dataPart string) sseEvent {
	t.Helper()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.resp.Body.Close() // unblocks next
		}
	}()
	e, err := s.next()
	if err != nil || e.name != name || !strings.Contains(e.data, dataPart) || e.id == "" {
		t.Fatalf("event %+v %v, want %s with %s and an id", e, err, name, dataPart)
	}
	return e
}

// TestWatchOverHTTP: the stream outlives the server's read and write
// timeouts, sends puts, deletes and batch changes as they are made through
// the API, heartbeats while idle, and resumes from Last-Event-ID.
func TestWatchOverHTTP(t *testing.T) {
	f, _ := watchFixture(t, watch.Options{Heartbeat: 50 * time.Millisecond, History: 16})
	s := openStream(t, f, "/api/v1/pets?watch=1")
	time.Sleep(300 * time.Millisecond) // past both server timeouts
	resp, body := f.do(t, "PUT", "/api/v1/pets/tom", `{"kind":"cat"}`)
	wantStatus(t, resp, body, 204)
	e := s.want(t, "put", `"key":"tom","etag":"\"`+strings.Trim(resp.Header.Get("ETag"), `"`)+`\"","value":"{\"kind\":\"cat\"}"`)
	resp, body = f.do(t, "DELETE", "/api/v1/pets/tom", "")
	wantStatus(t, resp, body, 204)
	s.want(t, "delete", `{"key":"tom"}`)
	resp, body = f.do(t, "POST", "/api/v1/_batch", `{"operations":[{"op":"put","collection":"pets","key":"a","value":"1"},{"op":"put","collection":"other","key":"b","value":"2"}]}`)
	wantStatus(t, resp, body, 200)
	s.want(t, "put", `"key":"a"`)
	if s.comments < 2 { // the opening one and at least one heartbeat
		t.Errorf("%d comment lines after 300ms with a 50ms heartbeat", s.comments)
	}

	resumed := openStream(t, f, "/api/v1/pets?watch=1", "Last-Event-ID", e.id)
	resumed.want(t, "delete", `"tom"`)
	resumed.want(t, "put", `"key":"a"`)
	prefixed := openStream(t, f, "/api/v1/pets?watch=true&prefix=x")
	f.do(t, "PUT", "/api/v1/pets/a", "2")
	f.do(t, "PUT", "/api/v1/pets/xa", "3")
	prefixed.want(t, "put", `"key":"xa"`)
}

// TestWatchRefusals: malformed watch requests get 400; watching off 501;
// more streams than watch.max_watchers 503 with Retry-After.
func TestWatchRefusals(t *testing.T) {
	f, _ := watchFixture(t, watch.Options{MaxWatchers: 1})
	for path, code := range map[string]string{
		"/api/v1/pets?watch=2":              "invalid_watch",
		"/api/v1/pets?watch=1&limit=3":      "invalid_watch",
		"/api/v1/pets?watch=1&prefix=a%20b": "invalid_prefix",
		"/api/v1/_x?watch=1":                "invalid_collection",
	} {
		resp, body := f.do(t, "GET", path, "")
		wantError(t, resp, body, 400, code)
	}
	openStream(t, f, "/api/v1/pets?watch=1")
	resp, body := f.do(t, "GET", "/api/v1/other?watch=1", "")
	wantError(t, resp, body, 503, "too_many_watchers")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	off := newFixture(t)
	resp, body = off.do(t, "GET", "/api/v1/pets?watch=1", "")
	wantError(t, resp, body, 501, "not_implemented")
}

// TestWatchSlowClient: a client that never reads is cut off once its
// buffer overflows or a write to it times out, and counted; it gets a
// resync, on the stream or when it resumes; another client keeps getting
// events.
func TestWatchSlowClient(t *testing.T) {
	f, hub := watchFixture(t, watch.Options{Buffer: 4, WriteTimeout: 200 * time.Millisecond})
	slow := openStream(t, f, "/api/v1/c?watch=1")
	fast := openStream(t, f, "/api/v1/c?watch=1")
	big := strings.Repeat("v", 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; hub.Stats().SlowCloses == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d writes of 64 KiB the client that never reads is still served: %+v", i, hub.Stats())
		}
		resp, body := f.do(t, "PUT", "/api/v1/c/k", big)
		wantStatus(t, resp, body, 204)
		fast.want(t, "put", `"key":"k"`)
	}
	// Its socket is full, so the resync may not get through: then the
	// stream ends early, and resuming from the last event it did read
	// starts with the resync (the hub no longer holds what followed).
	var last sseEvent
	for {
		e, err := slow.next()
		if err != nil {
			break
		}
		last = e
	}
	if st := hub.Stats(); st.Watchers != 1 {
		t.Errorf("%d watchers after the slow one was cut off, want 1", st.Watchers)
	}
	if last.name != "resync" {
		again := openStream(t, f, "/api/v1/c?watch=1", "Last-Event-ID", last.id)
		again.want(t, "resync", "no longer holds")
	}
}

// TestWatchShutdown: closing the hub (as shutdown does) ends every stream
// with a clean end of the response.
func TestWatchShutdown(t *testing.T) {
	f, hub := watchFixture(t, watch.Options{})
	streams := []*stream{openStream(t, f, "/api/v1/a?watch=1"), openStream(t, f, "/api/v1/b?watch=1")}
	hub.Close()
	for _, s := range streams {
		if _, err := s.next(); !errors.Is(err, io.EOF) {
			t.Errorf("after Close the stream ended with %v, want a clean EOF", err)
		}
	}
}
