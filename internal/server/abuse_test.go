package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// TestEchoesAreCut: a 900 KB path or cursor comes back cut, in the error
// body and in the access line.
func TestEchoesAreCut(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("a", 900<<10)
	for _, path := range []string{"/" + long, "/api/v1/pets?cursor=" + long, "/api/v1/pets/" + long} {
		resp, body := f.do(t, "GET", path, "")
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Fatalf("GET %.40s... = %d", path, resp.StatusCode)
		}
		if len(body) > 2*maxMessage {
			t.Fatalf("GET %.40s...: a %d-byte error body", path, len(body))
		}
	}
	for _, line := range strings.Split(f.logged(t), "\n") {
		if len(line) > 1024 {
			t.Fatalf("a %d-byte log line: %.200s...", len(line), line)
		}
	}
}

// TestInflightSheds: with every place taken, a request gets 503 with
// Retry-After at once; probes are served all the same, and counted
// nowhere.
func TestInflightSheds(t *testing.T) {
	f := newFixture(t)
	f.srv.Inflight = limits.NewInflight(1)
	f.srv.frame.inflight = f.srv.Inflight
	if !f.srv.Inflight.Acquire() { // the one place, taken
		t.Fatal("the place was taken already")
	}
	resp, body := f.do(t, "GET", "/api/v1/pets/tom", "")
	wantError(t, resp, body, 503, "overloaded")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	for _, p := range []string{"/livez", "/readyz", "/health"} {
		resp, body := f.do(t, "GET", p, "")
		wantStatus(t, resp, body, 200)
	}
	if n, _ := f.srv.Shed(); n != 1 {
		t.Fatalf("shed %d, want 1", n)
	}
	f.srv.Inflight.Release()
	resp, body = f.do(t, "GET", "/api/v1/pets/tom", "")
	wantError(t, resp, body, 404, "not_found")
	// The place is given back after each request.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.do(t, "GET", "/api/v1/pets/tom", "")
		}()
	}
	wg.Wait()
	if !f.srv.Inflight.Acquire() {
		t.Fatal("a place was not given back")
	}
}

// TestReserveServesProbesOnly: on a connection of the probes' share, a
// probe is served (and the connection closed after it), anything else gets
// 503.
func TestReserveServesProbesOnly(t *testing.T) {
	f := newFixture(t)
	reserved := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r = r.WithContext(limits.MarkReserved(r.Context())) // as the listener's ConnContext does
		w := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(w, r)
		return w
	}
	if w := reserved("/livez"); w.Code != 200 || w.Header().Get("Connection") != "close" {
		t.Fatalf("probe on the reserve: %d, Connection %q", w.Code, w.Header().Get("Connection"))
	}
	if w := reserved("/api/v1/pets/tom"); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("API request on the reserve: %d %s", w.Code, w.Body)
	}
	if _, n := f.srv.Shed(); n != 1 {
		t.Fatalf("shed on the reserve %d, want 1", n)
	}
}

// TestFailedAuthThrottled: after auth.max_failures bad tokens a client gets
// 429 with Retry-After, even with a good token; another client is served.
func TestFailedAuthThrottled(t *testing.T) {
	f := newFixture(t)
	a, err := auth.FromSettings(providers.Settings{"auth.tokens": "read:r-tok-0123456789abcdef", "auth.max_failures": "5", "auth.max_lockout": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = New(Deps{Store: f.srv.Store, Health: f.srv.Health, Log: f.srv.Log, Auth: a, MaxBody: 1024})
	get := func(remote, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/api/v1/pets/tom", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(w, r)
		return w
	}
	for i := range 5 {
		if w := get("192.0.2.1:1", "wrong-0123456789abcdef"); w.Code != 401 {
			t.Fatalf("bad token %d: %d", i, w.Code)
		}
	}
	for _, tok := range []string{"wrong-0123456789abcdef", "r-tok-0123456789abcdef"} {
		if w := get("192.0.2.1:1", tok); w.Code != 429 || w.Header().Get("Retry-After") != "1" {
			t.Fatalf("throttled client: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := get("192.0.2.2:1", "r-tok-0123456789abcdef"); w.Code != 404 {
		t.Fatalf("another client: %d %s", w.Code, w.Body)
	}
	if refused, failed := a.Throttle().Stats(); refused != 2 || failed != 5 {
		t.Fatalf("throttle stats %d refused, %d failed", refused, failed)
	}
}

// queryItem and queryPage are a list page as encoding/json would write it.
type queryItem struct {
	Key         string  `json:"key"`
	ETag        string  `json:"etag,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 []byte  `json:"value_base64,omitempty"`
}

type queryPage struct {
	Items      []queryItem `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// TestWritePage: a page written item by item is the JSON of queryPage,
// byte for byte.
func TestWritePage(t *testing.T) {
	page := providers.Page{NextCursor: "abc_-", Items: []providers.Item{
		{Key: "a", Value: []byte(`{"x":"<b> & \"q\"\n\t"}`), Version: "00000000000000ff"},
		{Key: "b", Value: []byte{0, 1, 2, 0xff}},
		{Key: "c", Value: nil},
		{Key: "d:{e}", Value: []byte("line\u2028sep ü")},
		{Key: "e", Value: bytes.Repeat([]byte{7}, 100000)},
	}}
	want := httptest.NewRecorder()
	out := queryPage{NextCursor: page.NextCursor}
	for _, it := range page.Items {
		qi := queryItem{Key: it.Key}
		if it.Version != "" {
			qi.ETag = quoteETag(it.Version)
		}
		if printable(it.Value) {
			v := string(it.Value)
			qi.Value = &v
		} else {
			qi.ValueBase64 = it.Value
		}
		out.Items = append(out.Items, qi)
	}
	writeJSON(want, 200, out)
	got := httptest.NewRecorder()
	writePage(got, page)
	if got.Body.String() != want.Body.String() {
		t.Fatalf("writePage:\n%.300s\nwant:\n%.300s", got.Body, want.Body)
	}
	empty := httptest.NewRecorder()
	writePage(empty, providers.Page{})
	if empty.Body.String() != "{\"items\":[]}\n" {
		t.Fatalf("empty page: %q", empty.Body)
	}
}

// fullDB is a database whose disk is full: every write fails for want of
// room, as bolt's do with ENOSPC.
type fullDB struct{ providers.Database }

func (fullDB) Set(context.Context, string, string, []byte) error {
	return fmt.Errorf("%w: write /var/lib/navius/data.db: no space left on device", providers.ErrFull)
}

func (fullDB) Delete(context.Context, string, string) (bool, error) {
	return false, fmt.Errorf("%w: write /var/lib/navius/data.db: no space left on device", providers.ErrFull)
}

// TestFullDisk: 507 bodies say what to do, a DELETE's why even it fails,
// and neither names the path.
func TestFullDisk(t *testing.T) {
	f := newFixtureOn(t, fullDB{memory.NewDatabase()})
	resp, body := f.do(t, "PUT", "/api/v1/pets/tom", "v")
	wantError(t, resp, body, 507, "insufficient_storage")
	if strings.Contains(body, "/var/lib") || !strings.Contains(body, "nothing was written") {
		t.Fatalf("PUT on a full disk: %s", body)
	}
	resp, body = f.do(t, "DELETE", "/api/v1/pets/tom", "")
	wantError(t, resp, body, 507, "insufficient_storage")
	if strings.Contains(body, "/var/lib") || !strings.Contains(body, "even a delete") {
		t.Fatalf("DELETE on a full disk: %s", body)
	}
}
