package splunk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// These tests use httptest servers only for what the real HEC receiver the
// interop module runs cannot produce: 503 code 9, 429 with Retry-After and
// 403 code 4. Everything else is tested against that receiver.

const secretToken = "11111111-2222-3333-4444-555555555555"

// attempt is one request an httptest HEC saw.
type attempt struct {
	at     time.Time
	events int
	ids    []string
}

// fakeHEC answers each POST to /services/collector/event with the next of
// answers (the last one repeats) and records the attempts.
type fakeHEC struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []attempt
}

type answer struct {
	status     int
	body       string
	retryAfter string
}

func newFakeHEC(t *testing.T, answers ...answer) *fakeHEC {
	f := &fakeHEC{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != EventPath || r.Header.Get("Authorization") != "Splunk "+secretToken {
			t.Errorf("request %s %s auth %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Error(err)
				return
			}
			body = zr
		}
		dec := json.NewDecoder(body)
		a := attempt{at: time.Now()}
		for dec.More() {
			var ev struct {
				Event struct {
					ID string `json:"id"`
				} `json:"event"`
			}
			if err := dec.Decode(&ev); err != nil {
				t.Errorf("batch is not concatenated JSON events: %v", err)
				return
			}
			a.events++
			a.ids = append(a.ids, ev.Event.ID)
		}
		f.mu.Lock()
		n := len(f.attempts)
		f.attempts = append(f.attempts, a)
		f.mu.Unlock()
		ans := answers[min(n, len(answers)-1)]
		if ans.retryAfter != "" {
			w.Header().Set("Retry-After", ans.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ans.status)
		_, _ = io.WriteString(w, ans.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHEC) seen() []attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]attempt(nil), f.attempts...)
}

func newSink(t *testing.T, url string, c *providertest.Console, mod func(*Config)) *Sink {
	t.Helper()
	cfg := Config{
		Endpoint: url, Token: secretToken, Gzip: true, FlushInterval: time.Hour,
		RetryBackoff: time.Millisecond, RetryMaxBackoff: 5 * time.Millisecond, WarnInterval: time.Hour,
		Console: c.Log,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func write(s *Sink, n int) {
	for i := range n {
		s.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: "hello", Fields: map[string]any{"id": fmt.Sprint(i)}})
	}
}

func flush(t *testing.T, s *Sink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

const (
	ok200    = `{"text":"Success","code":0}`
	busy503  = `{"text":"Server is busy","code":9}`
	token403 = `{"text":"Invalid token","code":4}`
)

func TestRetries503Code9(t *testing.T) {
	hec := newFakeHEC(t, answer{503, busy503, ""}, answer{503, busy503, ""}, answer{200, ok200, ""})
	c := &providertest.Console{}
	s := newSink(t, hec.URL, c, nil)
	write(s, 7)
	flush(t, s)
	at := hec.seen()
	if len(at) != 3 {
		t.Fatalf("HEC saw %d attempts, want 3 (two 503s, then success)", len(at))
	}
	for _, a := range at {
		if a.events != 7 {
			t.Errorf("attempt carried %d events, want the whole batch of 7", a.events)
		}
	}
	st := s.Stats()
	if st.Sent != 7 || st.Retries != 2 || st.Failed != 0 || st.Queued != 0 || st.QueuedBytes != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if !strings.Contains(c.String(), "HTTP 503, HEC code 9 (server is busy)") {
		t.Errorf("no retry warning naming code 9:\n%s", c)
	}
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	hec := newFakeHEC(t, answer{429, `{"text":"Too many requests"}`, "1"}, answer{200, ok200, ""})
	s := newSink(t, hec.URL, &providertest.Console{}, nil)
	write(s, 3)
	flush(t, s)
	at := hec.seen()
	if len(at) != 2 {
		t.Fatalf("HEC saw %d attempts, want 2", len(at))
	}
	// The backoff is 1ms; only Retry-After makes the retry wait a second.
	if gap := at[1].at.Sub(at[0].at); gap < 900*time.Millisecond {
		t.Fatalf("retried %v after a 429 with Retry-After: 1", gap)
	}
	if st := s.Stats(); st.Sent != 3 || st.Retries != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestPermanent403Code4ReportedOnce(t *testing.T) {
	hec := newFakeHEC(t, answer{403, token403, ""})
	c := &providertest.Console{}
	s := newSink(t, hec.URL, c, func(c *Config) { c.BatchSize = 5 })
	write(s, 12) // three batches, all rejected
	flush(t, s)
	if at := hec.seen(); len(at) != 3 {
		t.Fatalf("HEC saw %d attempts, want 3 (one per batch, no retry)", len(at))
	}
	st := s.Stats()
	if st.Failed != 12 || st.Sent != 0 || st.Retries != 0 || st.Queued != 0 {
		t.Fatalf("stats = %+v", st)
	}
	c.CheckReportedOnce(t, "HEC rejected", secretToken, "HTTP 403, HEC code 4 (invalid token)", "splunk.token")
}

func TestMaxRetriesGivesUp(t *testing.T) {
	hec := newFakeHEC(t, answer{500, `{"text":"Internal server error","code":8}`, ""})
	c := &providertest.Console{}
	s := newSink(t, hec.URL, c, func(c *Config) { c.MaxRetries = 2 })
	write(s, 4)
	flush(t, s)
	if at := hec.seen(); len(at) != 3 {
		t.Fatalf("HEC saw %d attempts, want 3 (first + 2 retries)", len(at))
	}
	if st := s.Stats(); st.Failed != 4 || st.Retries != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if !strings.Contains(c.String(), "giving up") || !strings.Contains(c.String(), "code 8") {
		t.Errorf("console:\n%s", c)
	}
}

func TestBatchBytesBound(t *testing.T) {
	hec := newFakeHEC(t, answer{200, ok200, ""})
	s := newSink(t, hec.URL, &providertest.Console{}, func(c *Config) { c.BatchBytes = 1000; c.Gzip = false })
	write(s, 40)
	flush(t, s)
	total := 0
	at := hec.seen()
	for _, a := range at {
		total += a.events
	}
	if total != 40 || len(at) < 2 {
		t.Fatalf("%d events in %d requests", total, len(at))
	}
}

func TestConfigErrorsHideToken(t *testing.T) {
	for _, c := range []Config{
		{Endpoint: "ftp://x", Token: secretToken},
		{Endpoint: "http://user:" + secretToken + "@h:8088", Token: ""},
		{Endpoint: "http://h:8088?token=1", Token: secretToken},
		{Endpoint: "http://h:8088", Token: secretToken, MaxRetries: -1, InsecureHTTP: true},
		{Endpoint: "http://h:8088", Token: secretToken}, // clear text without saying so
	} {
		_, err := New(c)
		if err == nil || !errors.Is(err, providers.ErrInvalid) {
			t.Fatalf("New(%+v) = %v, want an ErrInvalid", c.Endpoint, err)
		}
		if strings.Contains(err.Error(), secretToken) {
			t.Fatalf("error leaks the token: %v", err)
		}
	}
}

// TestInsecureHTTP: a token goes to an http:// endpoint on another host
// only with InsecureHTTP (the refusal names the option and the https://
// fix); one on the loopback is taken, as Dynatrace takes a local OneAgent.
func TestInsecureHTTP(t *testing.T) {
	_, err := New(Config{Endpoint: "http://hec.example.com:8088", Token: secretToken})
	if err == nil || !strings.Contains(err.Error(), "use https://, or set splunk.insecure_http: true") {
		t.Fatalf("http:// without splunk.insecure_http: %v", err)
	}
	for _, c := range []Config{
		{Endpoint: "https://hec.example.com:8088", Token: secretToken},
		{Endpoint: "http://hec.example.com:8088", Token: secretToken, InsecureHTTP: true},
		{Endpoint: "http://127.0.0.1:8088", Token: secretToken},
		{Endpoint: "http://localhost:8088", Token: secretToken},
		{Endpoint: "http://[::1]:8088", Token: secretToken},
	} {
		s, err := New(c)
		if err != nil {
			t.Fatalf("%s (insecure_http %v): %v", c.Endpoint, c.InsecureHTTP, err)
		}
		_ = s.Close(context.Background())
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:8088":                             "http://h:8088",
		"https://h:8088/":                           "https://h:8088",
		"https://h:8088/services/collector":         "https://h:8088",
		"https://h:8088/services/collector/event/":  "https://h:8088",
		"https://h/splunk/services/collector/event": "https://h/splunk",
	} {
		if got, err := baseURL(in); err != nil || got != want {
			t.Errorf("baseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestEncode(t *testing.T) {
	enc := newEncoder(Config{Host: "h1", Source: "navius", SourceType: "_json", Index: "main"})
	when := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	weird := "quote\" backslash\\ nl\n tab\t ctl\x01 bad\xff utf8 é \u2028"
	b := enc.encode(nil, &providers.LogEntry{
		Time: when, Level: providers.LevelWarn, Message: weird, CorrelationID: "req-1", Source: "http",
		Fields: map[string]any{"status": 503, "ok": true, "ratio": 0.5, "err": errors.New("boom"), "level": "shadow", "d": time.Second, "list": []int{1, 2}},
	})
	var ev struct {
		Time       float64           `json:"time"`
		Host       string            `json:"host"`
		Source     string            `json:"source"`
		SourceType string            `json:"sourcetype"`
		Index      string            `json:"index"`
		Event      map[string]any    `json:"event"`
		Fields     map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if ev.Time != 1767323045.123456 || ev.Host != "h1" || ev.Source != "navius" || ev.SourceType != "_json" || ev.Index != "main" {
		t.Fatalf("metadata: %s", b)
	}
	wantMsg := strings.ToValidUTF8(weird, "\ufffd")
	e := ev.Event
	if e["message"] != wantMsg || e["level"] != "warn" || e["component"] != "http" || e["correlation_id"] != "req-1" ||
		e["status"] != 503.0 || e["ok"] != true || e["ratio"] != 0.5 || e["err"] != "boom" || e["field_level"] != "shadow" || e["d"] != "1s" {
		t.Fatalf("event: %s", b)
	}
	if ev.Fields["level"] != "warn" || ev.Fields["correlation_id"] != "req-1" || ev.Fields["component"] != "http" {
		t.Fatalf("indexed fields: %s", b)
	}
	// Many events concatenate into a stream a JSON decoder reads one by one.
	stream := append(append([]byte{}, b...), b...)
	dec := json.NewDecoder(bytes.NewReader(stream))
	n := 0
	for dec.More() {
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("decoded %d events", n)
	}
}

func TestWriteAfterCloseIsDropped(t *testing.T) {
	hec := newFakeHEC(t, answer{200, ok200, ""})
	s := newSink(t, hec.URL, &providertest.Console{}, nil)
	write(s, 3)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(s, 2)
	st := s.Stats()
	if st.Sent != 3 || st.Dropped != 2 || st.Accepted != 3 {
		t.Fatalf("stats = %+v", st)
	}
	if err := s.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close = %v", err)
	}
}

func TestHealthIndicatorDown(t *testing.T) {
	hec := newFakeHEC(t, answer{200, ok200, ""})
	hec.Close() // nothing listens any more
	s := newSink(t, hec.URL, &providertest.Console{}, nil)
	ind := s.HealthIndicators()
	if len(ind) != 1 || ind[0].Critical || ind[0].Name != "splunk" {
		t.Fatalf("indicators = %+v", ind)
	}
	r := ind[0].Check(context.Background())
	if r.Status != providers.StatusDown || r.Error == "" || strings.Contains(r.Error, secretToken) {
		t.Fatalf("health = %+v", r)
	}
}

func TestCloseDeadlineCountsLoss(t *testing.T) {
	hec := newFakeHEC(t, answer{503, busy503, ""})
	c := &providertest.Console{}
	s := newSink(t, hec.URL, c, func(c *Config) { c.ShutdownTimeout = 200 * time.Millisecond; c.BatchSize = 4 })
	write(s, 10)
	err := s.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "10 log entries not delivered within splunk.shutdown_timeout") {
		t.Fatalf("Close = %v", err)
	}
	if st := s.Stats(); st.Failed != 10 || st.Sent != 0 || st.Queued != 0 || st.QueuedBytes != 0 || st.Accepted != 10 {
		t.Fatalf("stats = %+v", st)
	}
	if !strings.Contains(c.String(), "lost_at_shutdown:10") {
		t.Fatalf("console:\n%s", c)
	}
}
