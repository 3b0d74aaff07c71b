package providertest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
)

// OpenObserver opens the provider switched on, against a fresh backend
// where it has one (a test server for a push exporter). It never returns
// nil: a provider that its settings switch off is not under test. The suite
// shuts it down.
type OpenObserver func(t *testing.T) providers.Observer

// MetricValue is what a backend holds for one series: Value is a counter's
// total, a gauge's last value or the sum of a histogram's observations;
// Count is a histogram's number of observations (0 for the others).
type MetricValue struct {
	Value float64
	Count uint64
}

// ObserverHarness is what the observability suite needs from a provider.
// Observability providers differ in what they do (metrics, tracing,
// profiling, endpoints, health), so the suite checks each capability the
// opened Observer implements; the read-back functions, when set, let it
// check what reached the backend as well.
type ObserverHarness struct {
	// Open opens the provider for each case.
	Open OpenObserver
	// Metric, when set, reads back what o's backend holds for metric m with
	// these label values, and whether it holds the series at all. It may
	// make the provider send first (a push).
	Metric func(t *testing.T, o providers.Observer, m providers.Metric, labelValues []string) (MetricValue, bool)
	// Spans, when set, returns the spans o's backend has received; the
	// suite calls it after Shutdown.
	Spans func(t *testing.T, o providers.Observer) []providers.SpanContext
}

// RunObserverTests runs the observability conformance suite as subtests of
// "navius.observability.v2": the provider does something, Shutdown is
// bounded by its context, and each capability it implements works (Meter,
// Tracer, Profiler, HTTPContributor, HealthContributor). A capability the
// provider lacks skips its case.
func RunObserverTests(t *testing.T, h ObserverHarness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("providertest: ObserverHarness needs Open")
	}
	runSuite(t, conformance.Observability, func(s *suiteRun) { observerCases(s, h) })
}

func observerCases(s *suiteRun, h ObserverHarness) {
	open := func(t *testing.T) providers.Observer {
		o := h.Open(t)
		if o == nil {
			t.Fatal("Open returned a nil Observer: open the provider switched on")
		}
		s.tested(o)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = o.Shutdown(ctx)
		})
		return o
	}
	// capability opens the provider and skips the case unless it
	// implements T.
	capability := func(t *testing.T, what string, ok func(providers.Observer) bool) providers.Observer {
		o := open(t)
		if !ok(o) {
			t.Skipf("the provider does not implement providers.%s", what)
		}
		return o
	}

	s.run("ObservesSomething", func(t *testing.T) {
		o := open(t)
		switch o.(type) {
		case providers.Meter, providers.Tracer, providers.Profiler, providers.HTTPContributor, providers.HealthContributor:
		default:
			t.Fatalf("%T implements none of Meter, Tracer, Profiler, HTTPContributor, HealthContributor: it observes nothing", o)
		}
	})

	s.run("ShutdownIsBounded", func(t *testing.T) {
		o := open(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_ = o.Shutdown(ctx)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Shutdown took %v with a 2s deadline", d)
		}
		// A cancelled context cuts the final send short at once.
		o2 := open(t)
		if m, ok := o2.(providers.Meter); ok {
			if in, err := m.Instrument(providers.Metric{Name: "conformance_pending", Kind: providers.Counter, Help: "Pending."}); err == nil {
				in.Record(1, nil)
			}
		}
		done, cancel2 := context.WithCancel(context.Background())
		cancel2()
		start = time.Now()
		_ = o2.Shutdown(done)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Shutdown with a cancelled context took %v", d)
		}
	})

	s.run("MeterRecords", func(t *testing.T) {
		o := capability(t, "Meter", func(o providers.Observer) bool { _, ok := o.(providers.Meter); return ok })
		m := o.(providers.Meter)
		counter := providers.Metric{Name: "conformance_requests", Help: "Requests.", Kind: providers.Counter, Labels: []string{"route", "code"}}
		gauge := providers.Metric{Name: "conformance_queue", Help: "Queue size.", Kind: providers.Gauge, Unit: "bytes", Labels: []string{"queue"}}
		hist := providers.Metric{Name: "conformance_latency", Help: "Latency.", Kind: providers.Histogram, Unit: "seconds", Labels: []string{"route"}}
		c, g, hi := instrument(t, m, counter), instrument(t, m, gauge), instrument(t, m, hist)
		c.Record(1, []string{"/a", "200"})
		c.Record(2, []string{"/a", "200"})
		c.Record(5, []string{"/b", "500"})
		g.Record(10, []string{"q"})
		g.Record(7, []string{"q"})
		hi.Record(0.5, []string{"/a"})
		hi.Record(1.5, []string{"/a"})
		if h.Metric == nil {
			return
		}
		expectMetric(t, h, o, counter, []string{"/a", "200"}, MetricValue{Value: 3})
		expectMetric(t, h, o, counter, []string{"/b", "500"}, MetricValue{Value: 5})
		expectMetric(t, h, o, gauge, []string{"q"}, MetricValue{Value: 7})
		expectMetric(t, h, o, hist, []string{"/a"}, MetricValue{Value: 2, Count: 2})
	})

	s.run("MeterConcurrent", func(t *testing.T) {
		o := capability(t, "Meter", func(o providers.Observer) bool { _, ok := o.(providers.Meter); return ok })
		counter := providers.Metric{Name: "conformance_concurrent", Help: "Concurrent adds.", Kind: providers.Counter, Labels: []string{"worker"}}
		in := instrument(t, o.(providers.Meter), counter)
		const workers, each = 8, 500
		start := time.Now()
		_ = Concurrently(workers, each, func(w, _ int) error {
			in.Record(1, []string{"shared"})
			in.Record(1, []string{fmt.Sprint(w)})
			return nil
		})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d records took %v: Record must not block", 2*workers*each, d)
		}
		if h.Metric == nil {
			return
		}
		expectMetric(t, h, o, counter, []string{"shared"}, MetricValue{Value: workers * each})
		expectMetric(t, h, o, counter, []string{"3"}, MetricValue{Value: each})
	})

	s.run("TracerExports", func(t *testing.T) {
		o := capability(t, "Tracer", func(o providers.Observer) bool { _, ok := o.(providers.Tracer); return ok })
		tr := o.(providers.Tracer)
		now := time.Now()
		trace := providers.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
		var sent []providers.SpanContext
		start := time.Now()
		for i := range 50 {
			sc := providers.SpanContext{TraceID: trace, SpanID: providers.SpanID{0, 0, 0, 0, 0, 0, 1, byte(i + 1)}, Sampled: true}
			if i > 0 {
				sc.Parent = sent[0].SpanID
			}
			sent = append(sent, sc)
			tr.ExportSpan(&providers.SpanData{
				Name: fmt.Sprintf("span %d", i), Kind: providers.SpanKindInternal, Context: sc,
				Start: now, End: now.Add(time.Duration(i+1) * time.Millisecond),
				Attrs:  []providers.Attr{providers.StringAttr("s", "v"), providers.IntAttr("i", int64(i)), providers.BoolAttr("b", true), providers.FloatAttr("f", 0.5)},
				Events: []providers.SpanEvent{{Name: "event", Time: now, Attrs: []providers.Attr{providers.StringAttr("k", "v")}}},
				Status: providers.SpanStatusOK,
			})
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("50 ExportSpan calls took %v: ExportSpan must not block", d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := o.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if h.Spans == nil {
			return
		}
		got := map[providers.SpanID]providers.SpanContext{}
		for _, sc := range h.Spans(t, o) {
			got[sc.SpanID] = sc
		}
		for _, want := range sent {
			g, ok := got[want.SpanID]
			if !ok {
				t.Fatalf("span %x did not reach the backend (%d of %d did)", want.SpanID, len(got), len(sent))
			}
			if g.TraceID != want.TraceID || g.Parent != want.Parent {
				t.Fatalf("span %x arrived with trace %x parent %x; want %x, %x", want.SpanID, g.TraceID, g.Parent, want.TraceID, want.Parent)
			}
		}
	})

	s.run("ProfilerProfiles", func(t *testing.T) {
		o := capability(t, "Profiler", func(o providers.Observer) bool { _, ok := o.(providers.Profiler); return ok })
		p := o.(providers.Profiler)
		for _, name := range []string{"cpu", "heap", "goroutine"} {
			sess, err := p.StartProfiling(name)
			if err != nil {
				t.Fatalf("StartProfiling(%q): %v", name, err)
			}
			if name == "cpu" {
				time.Sleep(100 * time.Millisecond)
			}
			data, err := sess.Stop()
			if err != nil {
				t.Fatalf("%s profile: Stop: %v", name, err)
			}
			// pprof's format is a gzipped protocol buffer.
			if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
				t.Fatalf("%s profile is not in pprof format (%d bytes, starting %q)", name, len(data), data[:min(len(data), 8)])
			}
		}
		if _, err := p.StartProfiling("no-such-profile"); err == nil {
			t.Fatal("StartProfiling of an unknown profile succeeded")
		}
	})

	s.run("HTTPHandlersServe", func(t *testing.T) {
		o := capability(t, "HTTPContributor", func(o providers.Observer) bool { _, ok := o.(providers.HTTPContributor); return ok })
		handlers := o.(providers.HTTPContributor).Handlers()
		if len(handlers) == 0 {
			t.Fatal("Handlers returned no endpoint")
		}
		mux := http.NewServeMux()
		for pattern, handler := range handlers {
			if handler == nil {
				t.Fatalf("pattern %q has a nil handler", pattern)
			}
			if err := mount(mux, pattern, handler); err != nil {
				t.Fatalf("pattern %q does not mount on an http.ServeMux: %v", pattern, err)
			}
		}
		srv := httptest.NewServer(mux)
		defer srv.Close()
		for pattern := range handlers {
			method, path, hasMethod := strings.Cut(pattern, " ")
			if !hasMethod {
				method, path = http.MethodGet, pattern
			}
			if strings.Contains(path, "{") || (method != http.MethodGet && method != "") {
				continue // a wildcard or a non-GET endpoint needs a request only the provider knows
			}
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("GET %s = %d", path, resp.StatusCode)
			}
		}
	})

	s.run("HealthIndicatorsAnswer", func(t *testing.T) {
		o := capability(t, "HealthContributor", func(o providers.Observer) bool { _, ok := o.(providers.HealthContributor); return ok })
		names := map[string]bool{}
		for _, ind := range o.(providers.HealthContributor).HealthIndicators() {
			if ind.Name == "" || names[ind.Name] {
				t.Fatalf("indicator name %q is empty or repeated", ind.Name)
			}
			names[ind.Name] = true
			if ind.Check == nil {
				t.Fatalf("indicator %s has no Check", ind.Name)
			}
			limit := ind.Timeout
			if limit <= 0 {
				limit = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			start := time.Now()
			r := ind.Check(ctx)
			cancel()
			if d := time.Since(start); d > limit+time.Second {
				t.Fatalf("indicator %s took %v, over its %v", ind.Name, d, limit)
			}
			switch r.Status {
			case providers.StatusUp, providers.StatusUnknown:
			case providers.StatusDown:
				if r.Error == "" {
					t.Fatalf("indicator %s is DOWN without saying why (HealthResult.Error)", ind.Name)
				}
			default:
				t.Fatalf("indicator %s answered status %q", ind.Name, r.Status)
			}
		}
	})
}

func instrument(t *testing.T, m providers.Meter, metric providers.Metric) providers.Instrument {
	t.Helper()
	in, err := m.Instrument(metric)
	if err != nil || in == nil {
		t.Fatalf("Instrument(%s): %v, %v", metric.Name, in, err)
	}
	return in
}

func expectMetric(t *testing.T, h ObserverHarness, o providers.Observer, m providers.Metric, labels []string, want MetricValue) {
	t.Helper()
	got, ok := h.Metric(t, o, m, labels)
	if !ok {
		t.Fatalf("the backend holds no series %s%q", m.Name, labels)
	}
	if got != want {
		t.Fatalf("the backend holds %s%q = %+v, want %+v", m.Name, labels, got, want)
	}
}

// mount registers a handler, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func mount(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}
