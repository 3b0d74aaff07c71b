package dynatrace

import (
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
)

// fakeAPI answers like the Metrics API v2: every line is checked against the
// documented grammar; 202 when all are valid, 400 with invalidLines when some
// are not (the valid ones count as accepted), and 429/503 on demand.
type fakeAPI struct {
	t     *testing.T
	token string // expected Api-Token; "" expects no Authorization
	path  string

	mu       sync.Mutex
	requests [][]string
	accepted []string
	// reject marks lines the API refuses beyond grammar (as the real one
	// does, e.g. for a metric key it won't take).
	reject func(line string) bool
	// fail answers the next len(fail) requests with these codes.
	fail []int
	// always answers every request with this code when set.
	always int
}

func newFakeAPI(t *testing.T, token string) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, token: token, path: "/api/v2/metrics/ingest"}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	lines := strings.Split(string(body), "\n")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, lines)
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	errBody := func(code int, msg string) map[string]any {
		return map[string]any{"error": map[string]any{"code": code, "message": msg}}
	}
	switch {
	case r.Method != http.MethodPost || r.URL.Path != f.path:
		f.t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, f.path)
		reply(404, errBody(404, "not found"))
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain"):
		f.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		reply(415, errBody(415, "unsupported media type"))
		return
	case len(body) > MaxBytes:
		f.t.Errorf("request of %d bytes, limit %d", len(body), MaxBytes)
		reply(413, errBody(413, "payload too large"))
		return
	case len(lines) > MaxLines:
		f.t.Errorf("request of %d lines, limit %d", len(lines), MaxLines)
		reply(400, errBody(400, "too many lines"))
		return
	}
	auth := r.Header.Get("Authorization")
	if f.token == "" && auth != "" {
		f.t.Errorf("Authorization %q sent to a tokenless endpoint", auth)
	}
	if f.token != "" && auth != "Api-Token "+f.token {
		reply(401, errBody(401, "Missing authorization parameter."))
		return
	}
	if f.always != 0 {
		reply(f.always, errBody(f.always, http.StatusText(f.always)))
		return
	}
	if len(f.fail) > 0 {
		code := f.fail[0]
		f.fail = f.fail[1:]
		reply(code, errBody(code, http.StatusText(code)))
		return
	}
	type invalid struct {
		Line  int    `json:"line"`
		Error string `json:"error"`
	}
	var bad []invalid
	ok := 0
	for i, l := range lines {
		err := checkLine(l, time.Now())
		if err == nil && f.reject != nil && f.reject(l) {
			err = errors.New("metric rejected")
		}
		if err != nil {
			bad = append(bad, invalid{i + 1, err.Error()})
			continue
		}
		ok++
		f.accepted = append(f.accepted, l)
	}
	if len(bad) > 0 {
		reply(400, map[string]any{"linesOk": ok, "linesInvalid": len(bad),
			"error": map[string]any{"code": 400, "message": fmt.Sprintf("%d invalid lines", len(bad)), "invalidLines": bad}, "warnings": nil})
		return
	}
	reply(202, map[string]any{"linesOk": ok, "linesInvalid": 0, "error": nil, "warnings": nil})
}

func (f *fakeAPI) snapshot() (requests [][]string, accepted []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]string(nil), f.requests...), append([]string(nil), f.accepted...)
}

type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(level, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+": "+fmt.Sprintf(format, args...))
}
func (l *testLog) Debugf(f string, a ...any) { l.add("debug", f, a...) }
func (l *testLog) Infof(f string, a ...any)  { l.add("info", f, a...) }
func (l *testLog) Warnf(f string, a ...any)  { l.add("warn", f, a...) }
func (l *testLog) Errorf(f string, a ...any) { l.add("error", f, a...) }
func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func newProvider(t *testing.T, endpoint, token string) (*Provider, *testLog) {
	t.Helper()
	log := &testLog{}
	p, err := New(Config{Endpoint: endpoint, Token: token, Metrics: true, PushInterval: time.Hour,
		Backoff: time.Millisecond, MaxRetries: 3, Version: "v1.2.3", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, log
}

func declare(t *testing.T, p *Provider, m providers.Metric) providers.Instrument {
	t.Helper()
	in, err := p.Instrument(m)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func health(p *Provider) providers.HealthResult {
	return p.HealthIndicators()[0].Check(context.Background())
}

func TestGrammarCheckerCatchesBadLines(t *testing.T) {
	now := time.Now()
	good := []string{
		`navius.http_requests,route=/api/v1/{collection}/{key},method=GET count,delta=3 ` + fmt.Sprint(now.UnixMilli()),
		`a.b-c.0d gauge,55`,
		`k,d="quoted, value" gauge,min=1,max=2.5,sum=3.5,count=2`,
		`k,d=esc\ aped\,\=\"\\ gauge,-1.5e+10`,
	}
	for _, l := range good {
		if err := checkLine(l, now); err != nil {
			t.Errorf("checkLine(%q) = %v, want valid", l, err)
		}
	}
	bad := []string{
		`1key gauge,1`, `-key gauge,1`, `dt.key gauge,1`, `a..b gauge,1`, `a.b$ gauge,1`, strings.Repeat("a", 251) + ` gauge,1`,
		`k,Dim=1 gauge,1`, `k,d=a b gauge,1`, `k,d=a,b gauge,1`, `k,d gauge,1`, `k,d=1,d=2 gauge,1`,
		`k gauge,NaN`, `k gauge,1,2`, `k count,3`, `k gauge,min=2,max=1,sum=3,count=2`, `k gauge,min=1,max=2,sum=3`,
		`k histogram,1`, `k`, `k gauge,1 12`, `k gauge,1 ` + fmt.Sprint(now.Add(-2*time.Hour).UnixMilli()), `k gauge,1 now extra`,
	}
	for _, l := range bad {
		if err := checkLine(l, now); err == nil {
			t.Errorf("checkLine(%q) accepted an invalid line", l)
		}
	}
}

func TestPushedLinesAreValid(t *testing.T) {
	api, ts := newFakeAPI(t, "s3cret")
	p, log := newProvider(t, ts.URL, "s3cret")
	if p.MetricsURL() != ts.URL+"/api/v2/metrics/ingest" {
		t.Fatalf("metrics URL %s", p.MetricsURL())
	}
	req := declare(t, p, providers.Metric{Name: "http_requests", Kind: providers.Counter, Labels: []string{"route", "method", "code"}})
	dur := declare(t, p, providers.Metric{Name: "http_request_duration", Kind: providers.Histogram, Unit: "seconds", Labels: []string{"route"}})
	info := declare(t, p, providers.Metric{Name: "build_info", Kind: providers.Gauge, Labels: []string{"version", "features", "revision"}})
	odd := declare(t, p, providers.Metric{Name: "Weird Name!", Kind: providers.Gauge, Labels: []string{"Label With Space", "x"}})

	route := "/api/v1/{collection}/{key}"
	req.Record(1, []string{route, "GET", "200"})
	req.Record(2, []string{route, "GET", "200"})
	req.Record(1, []string{route, "PUT", "204"})
	dur.Record(0.002, []string{route})
	dur.Record(0.010, []string{route})
	info.Record(1, []string{"v1 \"beta\"", "bolt,memory,prometheus", ""})
	odd.Record(-3.25, []string{`a=b, "c" \ d` + "\x01ü", strings.Repeat("long", 100)})
	p.Push(context.Background())

	requests, accepted := api.snapshot()
	if len(requests) != 1 || len(accepted) != 5 {
		t.Fatalf("%d requests, %d lines accepted, want 1 and 5:\n%s\n%s", len(requests), len(accepted), strings.Join(accepted, "\n"), log)
	}
	text := strings.Join(accepted, "\n")
	for _, want := range []string{
		"navius.http_requests,dt.metrics.source=navius,service.name=navius,route=" + route + ",method=GET,code=200 count,delta=3 ",
		"navius.http_requests,dt.metrics.source=navius,service.name=navius,route=" + route + ",method=PUT,code=204 count,delta=1 ",
		"navius.http_request_duration_seconds,dt.metrics.source=navius,service.name=navius,route=" + route + " gauge,min=0.002,max=0.01,sum=0.012,count=2 ",
		`version=v1\ \"beta\",features=bolt\,memory\,prometheus gauge,1 `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no line containing %q in\n%s", want, text)
		}
	}
	if st := p.Stats(); st.LinesOK.Load() != 5 || st.LinesInvalid.Load() != 0 || st.Pushes.Load() != 1 {
		t.Errorf("stats ok %d invalid %d pushes %d", st.LinesOK.Load(), st.LinesInvalid.Load(), st.Pushes.Load())
	}
	if h := health(p); h.Status != providers.StatusUp {
		t.Errorf("health %+v", h)
	}

	// Deltas were reset: with nothing new, only the gauges go again.
	req.Record(4, []string{route, "GET", "200"})
	p.Push(context.Background())
	requests, accepted = api.snapshot()
	second := requests[len(requests)-1]
	if len(second) != 3 || !strings.Contains(strings.Join(second, "\n"), "count,delta=4 ") {
		t.Errorf("second push = %q, want the new delta and the two gauges", second)
	}
}

func TestBatchLimits(t *testing.T) {
	api, ts := newFakeAPI(t, "tok")
	p, _ := newProvider(t, ts.URL, "tok")
	in := declare(t, p, providers.Metric{Name: "series", Kind: providers.Gauge, Labels: []string{"a", "b", "c", "d", "i"}})
	big := strings.Repeat("x", 240)
	const n = 2600
	for i := range n {
		v := ""
		if i < 1200 { // the first 1200 lines are about 1 KB: bytes bound those requests
			v = big
		}
		in.Record(float64(i), []string{v, v, v, v, fmt.Sprint(i)})
	}
	p.Push(context.Background())
	requests, accepted := api.snapshot()
	if len(accepted) != n {
		t.Fatalf("%d lines accepted, want %d", len(accepted), n)
	}
	byLines, byBytes := false, false
	for _, r := range requests {
		size := len(strings.Join(r, "\n"))
		if len(r) == MaxLines {
			byLines = true
		}
		if size > MaxBytes-1100 && len(r) < MaxLines {
			byBytes = true
		}
	}
	if !byLines || !byBytes || len(requests) < 3 {
		t.Errorf("%d requests (sizes checked by the fake API); want some cut at %d lines and some at ~%d bytes", len(requests), MaxLines, MaxBytes)
	}
	if got := Batches([]string{}); len(got) != 0 {
		t.Errorf("Batches(nothing) = %v", got)
	}
}

func TestInvalidLinesAreNotResent(t *testing.T) {
	api, ts := newFakeAPI(t, "tok")
	api.reject = func(l string) bool { return strings.Contains(l, "refused") }
	p, log := newProvider(t, ts.URL, "tok")
	in := declare(t, p, providers.Metric{Name: "m", Kind: providers.Counter, Labels: []string{"k"}})
	in.Record(1, []string{"fine"})
	in.Record(1, []string{"refused"})
	in.Record(1, []string{"also-fine"})
	p.Push(context.Background())
	requests, accepted := api.snapshot()
	if len(requests) != 1 || len(accepted) != 2 {
		t.Fatalf("%d requests, %d accepted; a 400 must not be resent", len(requests), len(accepted))
	}
	st := p.Stats()
	if st.LinesOK.Load() != 2 || st.LinesInvalid.Load() != 1 || st.Retries.Load() != 0 {
		t.Errorf("ok %d invalid %d retries %d", st.LinesOK.Load(), st.LinesInvalid.Load(), st.Retries.Load())
	}
	h := health(p)
	if h.Status != providers.StatusDown || !strings.Contains(h.Error, "1 of 3 lines rejected") || !strings.Contains(h.Error, "refused") {
		t.Errorf("health %+v", h)
	}
	if !strings.Contains(log.String(), "metric rejected") {
		t.Errorf("log lacks the API's reason:\n%s", log)
	}
	// The next clean push turns the indicator UP again.
	in.Record(1, []string{"fine"})
	p.Push(context.Background())
	if h := health(p); h.Status != providers.StatusUp {
		t.Errorf("after a clean push: %+v", h)
	}
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	api, ts := newFakeAPI(t, "tok")
	api.fail = []int{429, 503, 429}
	p, _ := newProvider(t, ts.URL, "tok")
	in := declare(t, p, providers.Metric{Name: "m", Kind: providers.Gauge})
	in.Record(7, nil)
	p.Push(context.Background())
	requests, accepted := api.snapshot()
	if len(requests) != 4 || len(accepted) != 1 || p.Stats().Retries.Load() != 3 || p.Stats().LinesOK.Load() != 1 {
		t.Fatalf("%d requests, %d accepted, %d retries; want 4, 1, 3", len(requests), len(accepted), p.Stats().Retries.Load())
	}

	// A server that stays down: retries run out, the lines are dropped and
	// the indicator says so.
	api.mu.Lock()
	api.always = 503
	api.mu.Unlock()
	p.Push(context.Background())
	requests, _ = api.snapshot()
	if len(requests) != 4+1+3 || p.Stats().LinesDropped.Load() != 1 {
		t.Errorf("%d requests, %d dropped; want 8 and 1", len(requests), p.Stats().LinesDropped.Load())
	}
	if h := health(p); h.Status != providers.StatusDown || !strings.Contains(h.Error, "gave up after 4 attempts") {
		t.Errorf("health %+v", h)
	}
}

func TestRefusedTokenIsNotRetriedNorPrinted(t *testing.T) {
	api, ts := newFakeAPI(t, "right-token")
	p, log := newProvider(t, ts.URL, "wrong-token")
	in := declare(t, p, providers.Metric{Name: "m", Kind: providers.Gauge})
	in.Record(1, nil)
	p.Push(context.Background())
	requests, _ := api.snapshot()
	if len(requests) != 1 {
		t.Fatalf("%d requests after a 401; want 1", len(requests))
	}
	h := health(p)
	if h.Status != providers.StatusDown || !strings.Contains(h.Error, "HTTP 401") || !strings.Contains(h.Error, "dynatrace.token") {
		t.Errorf("health %+v", h)
	}
	if strings.Contains(h.Error+log.String(), "wrong-token") {
		t.Error("the token appears in the health report or the log")
	}
}

func TestOneAgentEndpointTakesNoToken(t *testing.T) {
	api, ts := newFakeAPI(t, "")
	api.path = "/metrics/ingest"
	p, _ := newProvider(t, ts.URL+"/metrics/ingest", "")
	if p.TracesURL() != ts.URL+"/otlp/v1/traces" {
		t.Errorf("traces URL %s", p.TracesURL())
	}
	in := declare(t, p, providers.Metric{Name: "m", Kind: providers.Gauge})
	in.Record(1, nil)
	p.Push(context.Background())
	if _, accepted := api.snapshot(); len(accepted) != 1 {
		t.Fatalf("accepted %d lines", len(accepted))
	}
}

func TestEndpointsAndConfigErrors(t *testing.T) {
	for _, c := range []struct{ in, metrics, traces string }{
		{"https://abc.live.dynatrace.com", "https://abc.live.dynatrace.com/api/v2/metrics/ingest", "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces"},
		{"https://abc.live.dynatrace.com/", "https://abc.live.dynatrace.com/api/v2/metrics/ingest", "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces"},
		{"https://abc.live.dynatrace.com/api/v2", "https://abc.live.dynatrace.com/api/v2/metrics/ingest", "https://abc.live.dynatrace.com/api/v2/otlp/v1/traces"},
		{"https://ag.example:9999/e/abc", "https://ag.example:9999/e/abc/api/v2/metrics/ingest", "https://ag.example:9999/e/abc/api/v2/otlp/v1/traces"},
		{"http://localhost:14499/metrics/ingest", "http://localhost:14499/metrics/ingest", "http://localhost:14499/otlp/v1/traces"},
	} {
		m, tr, _, err := Endpoints(c.in)
		if err != nil || m != c.metrics || tr != c.traces {
			t.Errorf("Endpoints(%q) = %q, %q, %v", c.in, m, tr, err)
		}
	}
	for _, c := range []struct{ endpoint, token, want string }{
		{"https://abc.live.dynatrace.com", "", "NAVIUS_DYNATRACE_TOKEN"},
		{"http://abc.live.dynatrace.com", "tok", "use https://"},
		{"ftp://abc", "tok", "not an http(s) URL"},
		{"https://user:pw@abc", "tok", "must not carry credentials"},
	} {
		_, err := New(Config{Endpoint: c.endpoint, Token: c.token, Metrics: true})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q, token %q) = %v, want ErrInvalid with %q", c.endpoint, c.token, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error shows the URL's password: %v", err)
		}
	}
	// Open is off without an endpoint.
	if o, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{}}); o != nil || err != nil {
		t.Errorf("Open without endpoint = %v, %v", o, err)
	}
}
