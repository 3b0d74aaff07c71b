package observe_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/internal/server"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// recorder is an observability provider that keeps what it is given: a
// Meter and a Tracer for checking the service's fan-out.
type recorder struct {
	mu     sync.Mutex
	values map[string][]value // metric name -> recorded values
	kinds  map[string]providers.MetricKind
	spans  []*providers.SpanData
}

type value struct {
	v      float64
	labels string // label=value,...
}

func newRecorder() *recorder {
	return &recorder{values: map[string][]value{}, kinds: map[string]providers.MetricKind{}}
}

func (r *recorder) Shutdown(context.Context) error { return nil }

func (r *recorder) Instrument(m providers.Metric) (providers.Instrument, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kinds[m.Name] = m.Kind
	return instrument{r, m}, nil
}

type instrument struct {
	r *recorder
	m providers.Metric
}

func (in instrument) Record(v float64, lv []string) {
	var parts []string
	for i, l := range in.m.Labels {
		parts = append(parts, l+"="+lv[i])
	}
	in.r.mu.Lock()
	defer in.r.mu.Unlock()
	in.r.values[in.m.Name] = append(in.r.values[in.m.Name], value{v, strings.Join(parts, ",")})
}

func (r *recorder) ExportSpan(s *providers.SpanData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, s)
}

// recorded is every value recorded for the series name{labels}.
func (r *recorder) recorded(name, labels string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for _, v := range r.values[name] {
		if v.labels == labels {
			out = append(out, v.v)
		}
	}
	return out
}

func (r *recorder) sum(name, labels string) float64 {
	total := 0.0
	for _, v := range r.recorded(name, labels) {
		total += v
	}
	return total
}

func (r *recorder) count(name, labels string) int { return len(r.recorded(name, labels)) }

func (r *recorder) takeSpans() []*providers.SpanData {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.spans
	r.spans = nil
	return s
}

// app is the real server with the service's middleware and decorators.
func app(t *testing.T, svc *observe.Service) *httptest.Server {
	t.Helper()
	db := memory.NewDatabase()
	c, err := memory.NewCache(1<<20, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(svc.Database(db, "memory"), svc.Cache(c, "memory"), store.Options{Timeout: time.Second})
	hs := health.New(time.Second, 0, "test")
	hs.Add(health.Database(st, "memory"))
	if fn := svc.HealthObserver(); fn != nil {
		hs.Observe(fn)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	srv := server.New(server.Deps{Store: st, Health: hs, Log: log, Info: map[string]any{}, MaxBody: 1 << 20, Instrument: svc.Middleware})
	srv.SetReady(true)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); _ = st.Close() })
	return ts
}

// do sends a request with the header fields in hdr (name, value, ...) and
// returns the answer's header.
func do(t *testing.T, method, url, body string, hdr ...string) http.Header {
	t.Helper()
	_, h, _ := harness.Request(t, method, url, body, hdr...)
	return h
}

// metricsOnly offers the recorder as a Meter alone.
type metricsOnly struct{ r *recorder }

func (m metricsOnly) Shutdown(ctx context.Context) error { return m.r.Shutdown(ctx) }
func (m metricsOnly) Instrument(md providers.Metric) (providers.Instrument, error) {
	return m.r.Instrument(md)
}

// binding offers the recorder as a Meter whose instruments bind series
// (providers.SeriesBinder), counting the binds per metric.
type binding struct {
	r     *recorder
	mu    *sync.Mutex
	binds map[string]int
}

func (b binding) Shutdown(ctx context.Context) error { return b.r.Shutdown(ctx) }
func (b binding) Instrument(md providers.Metric) (providers.Instrument, error) {
	in, err := b.r.Instrument(md)
	return bindingInstrument{in.(instrument), b}, err
}

type bindingInstrument struct {
	instrument
	b binding
}

func (bi bindingInstrument) Bind(lv []string) providers.Series {
	bi.b.mu.Lock()
	bi.b.binds[bi.m.Name]++
	bi.b.mu.Unlock()
	return boundSeries{bi.instrument, lv}
}

type boundSeries struct {
	in instrument
	lv []string
}

func (s boundSeries) Record(v float64) { s.in.Record(v, s.lv) }

// Metrics come out the same whether the provider binds series or not; a
// binding provider resolves each combination of labels once.
func TestRequestMetricsByRoute(t *testing.T) {
	for _, binds := range []bool{false, true} {
		rec := newRecorder()
		meter := providers.Observer(metricsOnly{rec})
		bm := binding{r: rec, mu: &sync.Mutex{}, binds: map[string]int{}}
		if binds {
			meter = bm
		}
		requestMetricsByRoute(t, rec, observe.New(nil, map[string]providers.Observer{"rec": meter}))
		if binds && (bm.binds["http_requests"] != 5 || bm.binds["http_request_duration"] != 5 || bm.binds["cache_hits"] != 1) {
			t.Errorf("binds = %v; want one per combination of labels: 5 HTTP, 1 for cache hits", bm.binds)
		}
	}
}

func requestMetricsByRoute(t *testing.T, rec *recorder, svc *observe.Service) {
	ts := app(t, svc)

	do(t, "PUT", ts.URL+"/api/v1/pets/tom", "cat")
	do(t, "GET", ts.URL+"/api/v1/pets/tom", "")
	do(t, "GET", ts.URL+"/api/v1/pets/tom", "")
	do(t, "GET", ts.URL+"/api/v1/pets/nobody", "")
	do(t, "GET", ts.URL+"/no/such/path", "")
	do(t, "BREW", ts.URL+"/api/v1/pets/tom", "")

	route := "/api/v1/{collection}/{key}"
	for _, c := range []struct {
		labels string
		want   float64
	}{
		{"route=" + route + ",method=PUT,code=204", 1},
		{"route=" + route + ",method=GET,code=200", 2},
		{"route=" + route + ",method=GET,code=404", 1},
		{"route=/,method=GET,code=404", 1},               // the catch-all pattern, not the raw path
		{"route=" + route + ",method=OTHER,code=405", 1}, // unknown methods don't grow cardinality
	} {
		if got := rec.sum("http_requests", c.labels); got != c.want {
			t.Errorf("http_requests{%s} = %v, want %v", c.labels, got, c.want)
		}
		if got := rec.count("http_request_duration", c.labels); float64(got) != c.want {
			t.Errorf("http_request_duration{%s} has %d observations, want %v", c.labels, got, c.want)
		}
	}
	if rec.kinds["http_requests"] != providers.Counter || rec.kinds["http_request_duration"] != providers.Histogram {
		t.Errorf("kinds = %v", rec.kinds)
	}
	// The read-through cache: the first GET misses and fills, the second hits.
	if h, m := rec.sum("cache_hits", "provider=memory"), rec.sum("cache_misses", "provider=memory"); h != 1 || m != 2 {
		t.Errorf("cache hits %v misses %v, want 1 and 2", h, m)
	}
	if n := rec.count("database_operation_duration", "operation=set,provider=memory"); n != 1 {
		t.Errorf("database set observed %d times, want 1", n)
	}
	// A missing key is not an error.
	if n := rec.sum("database_operation_errors", "operation=get,provider=memory"); n != 0 {
		t.Errorf("database get errors = %v, want 0", n)
	}
}

func TestNoTraceparentWithoutTracing(t *testing.T) {
	ts := app(t, observe.New(nil, map[string]providers.Observer{"rec": metricsOnly{newRecorder()}}))
	if h := do(t, "GET", ts.URL+"/livez", ""); h.Get("traceparent") != "" {
		t.Errorf("traceparent without tracing: %q", h.Get("traceparent"))
	}
}

func TestSpansAndTraceparent(t *testing.T) {
	rec := newRecorder()
	svc := observe.New(nil, map[string]providers.Observer{"rec": rec})
	ts := app(t, svc)
	do(t, "PUT", ts.URL+"/api/v1/pets/tom", "cat")
	rec.takeSpans()

	incoming := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	hdr := do(t, "GET", ts.URL+"/api/v1/pets/tom", "", "traceparent", incoming, "tracestate", "vendor=x")
	back, ok := providers.ParseTraceparent(hdr.Get("traceparent"))
	if !ok {
		t.Fatalf("response traceparent %q", hdr.Get("traceparent"))
	}
	if back.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || back.SpanID.String() == "00f067aa0ba902b7" || !back.Sampled {
		t.Fatalf("response traceparent %q does not continue %q with its own span", hdr.Get("traceparent"), incoming)
	}
	if hdr.Get("tracestate") != "vendor=x" {
		t.Errorf("tracestate = %q", hdr.Get("tracestate"))
	}
	spans := rec.takeSpans()
	var srv *providers.SpanData
	for _, s := range spans {
		if s.Kind == providers.SpanKindServer {
			srv = s
		}
	}
	if srv == nil {
		t.Fatalf("no server span in %d spans", len(spans))
	}
	if srv.Name != "GET /api/v1/{collection}/{key}" || srv.Context.SpanID != back.SpanID || srv.Context.Parent.String() != "00f067aa0ba902b7" {
		t.Fatalf("server span %q id %s parent %s", srv.Name, srv.Context.SpanID, srv.Context.Parent)
	}
	var children []string
	for _, s := range spans {
		if s != srv {
			if s.Context.Parent != srv.Context.SpanID || s.Context.TraceID != srv.Context.TraceID || s.Kind != providers.SpanKindClient {
				t.Errorf("span %s: parent %s trace %s kind %v; want children of the server span", s.Name, s.Context.Parent, s.Context.TraceID, s.Kind)
			}
			children = append(children, s.Name)
		}
	}
	slices.Sort(children)
	if !slices.Equal(children, []string{"cache.get", "cache.set", "database.get"}) {
		t.Errorf("child spans = %v", children)
	}
	if !hasAttr(srv, "http.response.status_code", int64(200)) || !hasAttr(srv, "http.route", "/api/v1/{collection}/{key}") {
		t.Errorf("server span attributes %v", srv.Attrs)
	}

	// No traceparent: a new trace, and the response names it.
	hdr = do(t, "GET", ts.URL+"/api/v1/pets/tom", "")
	sc, ok := providers.ParseTraceparent(hdr.Get("traceparent"))
	spans = rec.takeSpans()
	if !ok || len(spans) == 0 || spans[len(spans)-1].Context.TraceID != sc.TraceID || spans[len(spans)-1].Context.Parent.IsValid() {
		t.Fatalf("new trace: header %q, spans %d", hdr.Get("traceparent"), len(spans))
	}

	// An unsampled caller: the trace goes on unsampled and nothing is exported.
	hdr = do(t, "GET", ts.URL+"/api/v1/pets/tom", "", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	if sc, _ := providers.ParseTraceparent(hdr.Get("traceparent")); sc.Sampled || sc.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("unsampled: response traceparent %q", hdr.Get("traceparent"))
	}
	if spans := rec.takeSpans(); len(spans) != 0 {
		t.Errorf("unsampled request exported %d spans", len(spans))
	}

	// A server error marks the span.
	hdr = do(t, "GET", ts.URL+"/api/v1/pets/tom", "", "traceparent", "garbage")
	if _, ok := providers.ParseTraceparent(hdr.Get("traceparent")); !ok {
		t.Errorf("a malformed traceparent should start a new trace; got %q", hdr.Get("traceparent"))
	}
}

func hasAttr(s *providers.SpanData, key string, v any) bool {
	for _, a := range s.Attrs {
		if a.Key == key && a.Value() == v {
			return true
		}
	}
	return false
}

func TestInjectForDownstream(t *testing.T) {
	rec := newRecorder()
	svc := observe.New(nil, map[string]providers.Observer{"rec": rec})
	ctx, sp := svc.Start(context.Background(), "work", providers.SpanKindInternal)
	h := http.Header{}
	observe.Inject(ctx, h)
	sc, ok := providers.ParseTraceparent(h.Get("traceparent"))
	if !ok || sc.SpanID != sp.Context().SpanID || sc.TraceID != sp.Context().TraceID {
		t.Fatalf("Inject wrote %q for span %s", h.Get("traceparent"), sp.Context().SpanID)
	}
	sp.AddEvent("checkpoint", providers.IntAttr("n", 1))
	sp.SetStatus(providers.SpanStatusOK, "")
	sp.End()
	sp.End() // twice is harmless
	sp.SetName("late")
	spans := rec.takeSpans()
	if len(spans) != 1 || spans[0].Name != "work" || len(spans[0].Events) != 1 || spans[0].Status != providers.SpanStatusOK {
		t.Fatalf("spans = %+v", spans)
	}
	// Outside any span, Inject writes nothing; StartChild starts nothing.
	h = http.Header{}
	observe.Inject(context.Background(), h)
	if len(h) != 0 {
		t.Errorf("Inject without a span wrote %v", h)
	}
	if _, sp := svc.StartChild(context.Background(), "orphan", providers.SpanKindClient); sp != nil {
		t.Error("StartChild without a parent started a span")
	}
}

type failingDB struct{ providers.Database }

func (failingDB) Get(context.Context, string, string) ([]byte, error) {
	return nil, providers.Unavailable("database", errors.New("connection refused"))
}

func TestDatabaseErrorsAndHealth(t *testing.T) {
	rec := newRecorder()
	svc := observe.New(nil, map[string]providers.Observer{"rec": rec})
	db := svc.Database(failingDB{memory.NewDatabase()}, "flaky")
	ctx, sp := svc.Start(context.Background(), "req", providers.SpanKindServer)
	if _, err := db.Get(ctx, "c", "k"); err == nil {
		t.Fatal("no error")
	}
	sp.End()
	if n := rec.sum("database_operation_errors", "operation=get,provider=flaky"); n != 1 {
		t.Errorf("errors = %v, want 1", n)
	}
	var dbSpan *providers.SpanData
	for _, s := range rec.takeSpans() {
		if s.Name == "database.get" {
			dbSpan = s
		}
	}
	if dbSpan == nil || dbSpan.Status != providers.SpanStatusError || len(dbSpan.Events) != 1 || dbSpan.Events[0].Name != "exception" {
		t.Fatalf("database span = %+v", dbSpan)
	}

	hs := health.New(time.Second, 0, "test")
	hs.Add(providers.HealthIndicator{Name: "broken", Check: func(context.Context) providers.HealthResult {
		return providers.HealthResult{Status: providers.StatusDown}
	}})
	hs.Observe(svc.HealthObserver())
	hs.Check(context.Background())
	for st, want := range map[string]float64{"UP": 0, "DOWN": 1, "UNKNOWN": 0} {
		if got := rec.sum("health_status", "indicator=broken,status="+st); got != want {
			t.Errorf("health_status{broken,%s} = %v, want %v", st, got, want)
		}
	}

	// Log counts come from the logging service's stats, read at collection:
	// each collection publishes only what grew since the last.
	counts := map[string]uint64{"warning": 2, "debug": 0}
	svc.ExportLogCounts(func() map[string]uint64 { return counts })
	svc.Collect(context.Background())
	counts["warning"] = 5
	svc.Collect(context.Background())
	if got := rec.sum("log_messages", "level=warning"); got != 5 {
		t.Errorf("log_messages{warning} = %v, want 5", got)
	}
	if got := rec.count("log_messages", "level=debug"); got != 0 {
		t.Errorf("debug messages counted: %v", got)
	}

	// Dropped access lines likewise, from the access log's exact count.
	var dropped uint64
	svc.ExportAccessLogDrops(func() uint64 { return dropped })
	svc.Collect(context.Background())
	dropped = 7
	svc.Collect(context.Background())
	svc.Collect(context.Background())
	if got := rec.sum("access_log_dropped", ""); got != 7 {
		t.Errorf("access_log_dropped = %v, want 7", got)
	}

	// The log sinks' losses likewise, from their stats.
	sinks := map[string]providers.LogSinkStats{"splunk": {Sent: 10}}
	svc.ExportLogSinkStats(func() map[string]providers.LogSinkStats { return sinks })
	if got := rec.count("log_sink_events", "sink=splunk,outcome=dropped"); got == 0 {
		t.Error("the dropped series does not exist before the first drop")
	}
	sinks["splunk"] = providers.LogSinkStats{Sent: 12, Dropped: 4, Failed: 3}
	svc.Collect(context.Background())
	svc.Collect(context.Background())
	for outcome, want := range map[string]float64{"sent": 12, "dropped": 4, "failed": 3} {
		if got := rec.sum("log_sink_events", "sink=splunk,outcome="+outcome); got != want {
			t.Errorf("log_sink_events{splunk,%s} = %v, want %v", outcome, got, want)
		}
	}
}

// TestNothingActiveCostsNothing: with no provider, the service installs
// nothing and instrument calls allocate nothing.
func TestNothingActiveCostsNothing(t *testing.T) {
	for name, svc := range map[string]*observe.Service{"nil": nil, "empty": observe.New(nil, nil)} {
		mux := http.NewServeMux()
		if h := svc.Middleware(mux); h != http.Handler(mux) {
			t.Errorf("%s: Middleware wrapped the handler", name)
		}
		db := memory.NewDatabase()
		if d := svc.Database(db, "memory"); d != providers.Database(db) {
			t.Errorf("%s: Database wrapped the provider", name)
		}
		if c := svc.Cache(nil, ""); c != nil {
			t.Errorf("%s: Cache(nil) = %v", name, c)
		}
		svc.ExportLogCounts(func() map[string]uint64 { return map[string]uint64{"info": 1} })
		if svc.HealthObserver() != nil {
			t.Errorf("%s: hooks installed", name)
		}
		c := svc.NewCounter(providers.Metric{Name: "x", Labels: []string{"a", "b"}})
		hist := svc.NewHistogram(providers.Metric{Name: "y", Labels: []string{"a"}})
		ctx := context.Background()
		route := strings.Repeat("r", 3)
		allocs := testing.AllocsPerRun(1000, func() {
			c.Add(1, route, "GET")
			hist.Observe(0.5, route)
			_, sp := svc.Start(ctx, "op", providers.SpanKindServer, providers.StringAttr("k", route))
			sp.SetAttributes(providers.StringAttr("k", route))
			sp.End()
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call with no provider", name, allocs)
		}
	}
}
