package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

type fixture struct {
	*httptest.Server
	srv  *Server
	logs *logging.Service
	log  *bytes.Buffer
	db   *switchDB
}

// logged returns the console log once every access line so far is in it.
func (f *fixture) logged(t *testing.T) string {
	t.Helper()
	if err := f.logs.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f.log.String()
}

// switchDB can be made unavailable, as a networked database going away.
type switchDB struct {
	providers.Database
	down bool
}

func (d *switchDB) Get(ctx context.Context, c, k string) ([]byte, error) {
	if d.down {
		return nil, providers.Unavailable("database", fmt.Errorf("dial tcp 127.0.0.1:6379: connect: connection refused"))
	}
	return d.Database.Get(ctx, c, k)
}

func (d *switchDB) Ping(ctx context.Context) error {
	if d.down {
		return providers.Unavailable("database", fmt.Errorf("connection refused"))
	}
	return nil
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, &switchDB{Database: memory.NewDatabase()})
}

// newFixtureOn serves db (a switchDB or any other database) with a cache.
func newFixtureOn(t *testing.T, db providers.Database) *fixture {
	t.Helper()
	cache, err := memory.NewCache(1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(db, cache, store.Options{Timeout: time.Second, Provider: "memory"})
	hs := health.New(time.Second, 0, "v1.0.0")
	hs.Add(health.Database(st, "memory"), health.Cache(cache, "memory"))
	var logBuf bytes.Buffer
	logs, err := logging.NewService(logging.Options{Out: &logBuf})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Store: st, Health: hs, Log: logs.Logger(), Info: map[string]any{"name": "navius"}, Version: "v1.0.0", MaxBody: 1024, Access: logs.AccessLog(),
		MaxTTL: time.Hour, MaxBatchOps: 8, MaxBatchBytes: 4096})
	s.SetReady(true)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); _ = logs.Close(context.Background()); _ = st.Close() })
	sw, _ := db.(*switchDB)
	return &fixture{Server: ts, srv: s, logs: logs, log: &logBuf, db: sw}
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.URL+path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func wantStatus(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s = %d %s, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body, status)
	}
}

func wantError(t *testing.T, resp *http.Response, body string, status int, code string) {
	t.Helper()
	wantStatus(t, resp, body, status)
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error body %q: want code %q and a message (%v)", body, code, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q", ct)
	}
}

func TestCRUD(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/api/v1/pets/tom", "")
	wantError(t, resp, body, 404, "not_found")

	resp, body = f.do(t, "PUT", "/api/v1/pets/tom", `{"kind":"cat"}`)
	wantStatus(t, resp, body, 204)
	resp, body = f.do(t, "GET", "/api/v1/pets/tom", "")
	wantStatus(t, resp, body, 200)
	if body != `{"kind":"cat"}` || resp.Header.Get("Content-Length") != "14" {
		t.Fatalf("GET = %q (length %s)", body, resp.Header.Get("Content-Length"))
	}
	resp, body = f.do(t, "HEAD", "/api/v1/pets/tom", "")
	wantStatus(t, resp, body, 200)

	resp, body = f.do(t, "PUT", "/api/v1/pets/tom", `{"kind":"tiger"}`)
	wantStatus(t, resp, body, 204)
	if _, body = f.do(t, "GET", "/api/v1/pets/tom", ""); body != `{"kind":"tiger"}` {
		t.Fatalf("after overwrite GET = %q (stale cache?)", body)
	}
	resp, body = f.do(t, "DELETE", "/api/v1/pets/tom", "")
	wantStatus(t, resp, body, 204)
	resp, body = f.do(t, "DELETE", "/api/v1/pets/tom", "")
	wantError(t, resp, body, 404, "not_found")
	resp, body = f.do(t, "GET", "/api/v1/pets/tom", "")
	wantError(t, resp, body, 404, "not_found")
	resp, body = f.do(t, "PUT", "/api/v1/pets/empty", "")
	wantStatus(t, resp, body, 204)
	if resp, body = f.do(t, "GET", "/api/v1/pets/empty", ""); resp.StatusCode != 200 || body != "" {
		t.Fatalf("empty value: %d %q", resp.StatusCode, body)
	}
	// Braces (a Redis Cluster hash tag) are key characters.
	resp, body = f.do(t, "PUT", "/api/v1/pets/%7Bhouse1%7Dtom", "cat")
	wantStatus(t, resp, body, 204)
	if resp, body = f.do(t, "GET", "/api/v1/pets/{house1}tom", ""); resp.StatusCode != 200 || body != "cat" {
		t.Fatalf("key with a hash tag: %d %q", resp.StatusCode, body)
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"PUT", "/api/v1/pets/" + strings.Repeat("k", 513), "v", 400, "invalid_key"},
		{"PUT", "/api/v1/pe%20ts/k", "v", 400, "invalid_collection"},
		{"PUT", "/api/v1/_hidden/k", "v", 400, "invalid_collection"},
		{"GET", "/api/v1/pets/a%2Fb", "", 400, "invalid_key"},
		{"GET", "/api/v1/pets/a%5Bb%5D", "", 400, "invalid_key"},
		{"PUT", "/api/v1/pets/big", strings.Repeat("x", 1025), 413, "payload_too_large"},
		{"POST", "/api/v1/pets/k", "v", 405, "method_not_allowed"},
		{"DELETE", "/api/v1/pets", "", 405, "method_not_allowed"},
		{"GET", "/api/v1/pets?limit=0", "", 400, "invalid_limit"},
		{"GET", "/api/v1/pets?limit=abc", "", 400, "invalid_limit"},
		{"GET", "/api/v1/pets?limit=1001", "", 400, "invalid_limit"},
		{"GET", "/api/v1/pets?cursor=%21%21", "", 400, "invalid_argument"},
		{"GET", "/nowhere", "", 404, "not_found"},
	}
	for _, c := range cases {
		resp, body := f.do(t, c.method, c.path, c.body)
		wantError(t, resp, body, c.status, c.code)
	}
	resp, _ := f.do(t, "POST", "/api/v1/pets/k", "v")
	if allow := resp.Header.Get("Allow"); allow != "GET, PUT, DELETE" {
		t.Fatalf("Allow = %q", allow)
	}
}

func TestChunkedBodyOverLimit(t *testing.T) {
	f := newFixture(t)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte("x"), 4096))
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", f.URL+"/api/v1/c/k", pr) // no Content-Length
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversize body = %d, want 413", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", "/api/v1/c/k", ""); resp.StatusCode != 404 {
		t.Fatal("an oversize value was stored")
	}
}

func TestQueryPaging(t *testing.T) {
	f := newFixture(t)
	for i := range 25 {
		val := fmt.Sprintf(`{"n":%d,"odd":%v}`, i, i%2 == 1)
		resp, body := f.do(t, "PUT", fmt.Sprintf("/api/v1/nums/k%02d", i), val)
		wantStatus(t, resp, body, 204)
	}
	f.do(t, "PUT", "/api/v1/nums/binary", "\xff\xfe\x00\"odd\":true")
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		resp, body := f.do(t, "GET", "/api/v1/nums?limit=4&filter=%22odd%22:true&cursor="+cursor, "")
		wantStatus(t, resp, body, 200)
		var page struct {
			Items []struct {
				Key         string  `json:"key"`
				Value       *string `json:"value"`
				ValueBase64 []byte  `json:"value_base64"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 4 {
			t.Fatalf("page of %d", len(page.Items))
		}
		for _, it := range page.Items {
			if seen[it.Key] {
				t.Fatalf("%s twice", it.Key)
			}
			seen[it.Key] = true
			if it.Key == "binary" {
				if it.Value != nil || !bytes.Equal(it.ValueBase64, []byte("\xff\xfe\x00\"odd\":true")) {
					t.Fatalf("binary value not base64: %+v", it)
				}
			} else if it.Value == nil || !strings.Contains(*it.Value, `"odd":true`) {
				t.Fatalf("item %s does not match the filter", it.Key)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 13 { // 12 odd numbers plus the binary value
		t.Fatalf("walked %d items, want 13", len(seen))
	}
	resp, body := f.do(t, "GET", "/api/v1/none", "")
	wantStatus(t, resp, body, 200)
	if strings.TrimSpace(body) != `{"items":[]}` {
		t.Fatalf("empty collection = %q", body)
	}
}

func TestRequestID(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do(t, "GET", "/livez", "", "X-Request-ID", "abc-123")
	if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
		t.Fatalf("echoed request ID = %q", got)
	}
	resp, _ = f.do(t, "GET", "/livez", "", "X-Request-ID", "bad id\twith spaces")
	a := resp.Header.Get("X-Request-ID")
	resp, _ = f.do(t, "GET", "/livez", "")
	b := resp.Header.Get("X-Request-ID")
	if a == "" || b == "" || a == b || strings.Contains(a, " ") {
		t.Fatalf("generated IDs %q %q", a, b)
	}
	if log := f.logged(t); !strings.Contains(log, "request_id=abc-123") {
		t.Fatalf("access log lacks the request ID: %s", log)
	}
}

// Every request, whatever its outcome, gets exactly one access line with
// its request ID, method, path and status.
func TestAccessLogEveryRequest(t *testing.T) {
	f := newFixture(t)
	const n = 300
	type req struct{ method, path, status string }
	want := map[string]req{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := g; i < n; i += 6 {
				id := fmt.Sprintf("every-%d", i)
				method, path := "GET", fmt.Sprintf("/api/v1/pets/k%d", i)
				switch i % 3 {
				case 1:
					method = "PUT"
				case 2:
					path = "/nowhere"
				}
				resp, _ := f.do(t, method, path, "v", "X-Request-ID", id)
				mu.Lock()
				want[id] = req{method, path, strconv.Itoa(resp.StatusCode)}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	got := map[string]int{}
	for _, line := range strings.Split(f.logged(t), "\n") {
		_, rest, ok := strings.Cut(line, "request_id=")
		if !ok || !strings.Contains(line, "msg=request") {
			continue
		}
		id, _, _ := strings.Cut(rest, " ")
		w, ok := want[id]
		if !ok {
			continue
		}
		got[id]++
		for _, field := range []string{"method=" + w.method, "path=" + w.path + " ", "status=" + w.status, "source=http"} {
			if !strings.Contains(line, field) {
				t.Errorf("access line of %s lacks %s: %s", id, field, line)
			}
		}
	}
	for id := range want {
		if got[id] != 1 {
			t.Errorf("request %s has %d access lines, want 1", id, got[id])
		}
	}
}

func TestHealthEndpoints(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/health", "")
	wantStatus(t, resp, body, 200)
	var act map[string]any
	_ = json.Unmarshal([]byte(body), &act)
	comps, _ := act["components"].(map[string]any)
	if act["status"] != "UP" || comps["database"] == nil || comps["cache"] == nil {
		t.Fatalf("/health = %s", body)
	}
	resp, body = f.do(t, "GET", "/health", "", "Accept", "application/health+json")
	if resp.Header.Get("Content-Type") != "application/health+json" || !strings.Contains(body, `"status":"pass"`) || !strings.Contains(body, `"database:responseTime"`) {
		t.Fatalf("health+json = %s %s", resp.Header.Get("Content-Type"), body)
	}
	if resp, body = f.do(t, "GET", "/readyz", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("/readyz = %d %q", resp.StatusCode, body)
	}
	if _, body = f.do(t, "GET", "/readyz?verbose", ""); !strings.Contains(body, "[+]database ok") {
		t.Fatalf("/readyz?verbose = %q", body)
	}
	if resp, body = f.do(t, "GET", "/livez?verbose", ""); resp.StatusCode != 200 || !strings.Contains(body, "livez check passed") {
		t.Fatalf("/livez = %q", body)
	}
	if _, body = f.do(t, "GET", "/info", ""); !strings.Contains(body, `"name":"navius"`) {
		t.Fatalf("/info = %q", body)
	}

	// The database goes away: health DOWN, not ready, API 503.
	f.db.down = true
	resp, body = f.do(t, "GET", "/health", "")
	wantStatus(t, resp, body, 503)
	if resp, body = f.do(t, "GET", "/readyz", ""); resp.StatusCode != 503 || !strings.Contains(body, "database") {
		t.Fatalf("/readyz with the database down = %d %q", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/api/v1/pets/uncached", "")
	wantError(t, resp, body, 503, "unavailable")
	if !strings.Contains(body, "the database is unavailable") || strings.Contains(body, "6379") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("503 body = %s (want the words, not the address, and a Retry-After)", body)
	}
	if resp, _ = f.do(t, "GET", "/livez", ""); resp.StatusCode != 200 {
		t.Fatal("liveness followed the database")
	}
	f.db.down = false

	// Not ready during startup and shutdown, whatever the indicators say.
	f.srv.SetReady(false)
	if resp, body = f.do(t, "GET", "/readyz?verbose", ""); resp.StatusCode != 503 || !strings.Contains(body, "readyz check failed") {
		t.Fatalf("/readyz while not started = %d %q", resp.StatusCode, body)
	}
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	a, err := auth.FromSettings(providers.Settings{"auth.tokens": "read:r-tok-0123456789abcdef,read+write:rw-tok-0123456789abcdef,metrics:m-tok-0123456789abcdef,admin:a-tok-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "navius_up 1\n") })
	f.srv = New(Deps{Store: f.srv.Store, Health: f.srv.Health, Log: f.srv.Log, Info: map[string]any{"name": "navius"}, Version: "v1", MaxBody: 1024, Auth: a,
		Routes: map[string]http.Handler{"/metrics": metrics}})
	f.srv.SetReady(true)
	f.Config.Handler = f.srv.Handler()

	cases := []struct {
		method, path, token string
		status              int
		challenge           string
	}{
		{"PUT", "/api/v1/c/k", "", 401, `Bearer realm="navius"`},
		{"PUT", "/api/v1/c/k", "wrong", 401, `error="invalid_token"`},
		{"PUT", "/api/v1/c/k", "r-tok-0123456789abcdef", 403, `scope="write"`},
		{"PUT", "/api/v1/c/k", "rw-tok-0123456789abcdef", 204, ""},
		{"GET", "/api/v1/c/k", "", 401, `Bearer realm="navius"`},
		{"GET", "/api/v1/c/k", "r-tok-0123456789abcdef", 200, ""},
		{"GET", "/api/v1/c", "r-tok-0123456789abcdef", 200, ""},
		{"DELETE", "/api/v1/c/k", "r-tok-0123456789abcdef", 403, `scope="write"`},
		{"GET", "/info", "rw-tok-0123456789abcdef", 403, `scope="admin"`},
		{"GET", "/info", "a-tok-0123456789abcdef", 200, ""},
		{"DELETE", "/api/v1/c/k", "a-tok-0123456789abcdef", 204, ""},
		{"GET", "/livez", "", 200, ""},
		{"GET", "/readyz", "", 200, ""},
		// A scraper's metrics token reads /metrics and nothing else.
		{"GET", "/metrics", "m-tok-0123456789abcdef", 200, ""},
		{"GET", "/metrics", "a-tok-0123456789abcdef", 200, ""},
		{"GET", "/metrics", "rw-tok-0123456789abcdef", 403, `scope="metrics"`},
		{"GET", "/metrics", "", 401, `Bearer realm="navius"`},
		{"PUT", "/api/v1/c/k", "m-tok-0123456789abcdef", 403, `scope="write"`},
		{"GET", "/api/v1/c/k", "m-tok-0123456789abcdef", 403, `scope="read"`},
		{"GET", "/info", "m-tok-0123456789abcdef", 403, `scope="admin"`},
	}
	for _, c := range cases {
		var hdr []string
		if c.token != "" {
			hdr = []string{"Authorization", "Bearer " + c.token}
		}
		resp, body := f.do(t, c.method, c.path, "v", hdr...)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s with %q = %d %s, want %d", c.method, c.path, c.token, resp.StatusCode, body, c.status)
			continue
		}
		if c.status >= 400 {
			wantError(t, resp, body, c.status, map[int]string{401: "unauthorized", 403: "forbidden"}[c.status])
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, c.challenge) {
				t.Errorf("%s %s: WWW-Authenticate %q lacks %q", c.method, c.path, got, c.challenge)
			}
		}
	}
	// A refusal says which scope is needed and how to get a token with it,
	// in JSON that is not HTML-escaped.
	resp, body := f.do(t, "PUT", "/api/v1/c/k", "v", "Authorization", "Bearer r-tok-0123456789abcdef")
	wantError(t, resp, body, 403, "forbidden")
	for _, want := range []string{"needs a token with the write scope (or admin)", "auth.tokens write:<token>", "auth.token_hashes"} {
		if !strings.Contains(body, want) {
			t.Errorf("403 body %s lacks %q", body, want)
		}
	}
	_, body = f.do(t, "GET", "/api/v1/c/k", "")
	if !strings.Contains(body, "Authorization: Bearer <token>") || strings.Contains(body, `\u003c`) {
		t.Errorf("401 body is HTML-escaped or lacks the header to send: %s", body)
	}
	// /health: status for everyone, components only with a valid token.
	_, body = f.do(t, "GET", "/health", "")
	if strings.Contains(body, "components") || !strings.Contains(body, `"status":"UP"`) {
		t.Errorf("anonymous /health = %s", body)
	}
	_, body = f.do(t, "GET", "/health", "", "Authorization", "Bearer r-tok-0123456789abcdef")
	if !strings.Contains(body, "components") {
		t.Errorf("authorized /health = %s", body)
	}
	_, body = f.do(t, "GET", "/health", "", "Accept", "application/health+json")
	if strings.Contains(body, "checks") {
		t.Errorf("anonymous health+json = %s", body)
	}
}
