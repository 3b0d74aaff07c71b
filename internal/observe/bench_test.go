package observe_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/internal/server"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/dynatrace"
	"github.com/navius-dev/navius/providers/memory"
	"github.com/navius-dev/navius/providers/prometheus"
)

// discard is a provider that takes everything and keeps nothing: it
// measures the service's own cost.
type discard struct{}

func (discard) Shutdown(context.Context) error { return nil }
func (discard) Instrument(providers.Metric) (providers.Instrument, error) {
	return discardInst{}, nil
}
func (discard) ExportSpan(*providers.SpanData) {}

type discardInst struct{}

func (discardInst) Record(float64, []string) {}

// sink answers every push and export like a healthy Dynatrace endpoint.
func sink(b *testing.B) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.URL.Path, "/metrics/ingest") {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"linesOk":1,"linesInvalid":0,"error":null}`)
		}
	}))
	b.Cleanup(ts.Close)
	return ts.URL
}

func services(b *testing.B) map[string]*observe.Service {
	dt, err := dynatrace.New(dynatrace.Config{Endpoint: sink(b), Metrics: true, Traces: true, PushInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dt.Shutdown(context.Background()) })
	return map[string]*observe.Service{
		"none":                 observe.New(nil, nil),
		"discard":              observe.New(nil, map[string]providers.Observer{"discard": discard{}}),
		"prometheus":           observe.New(nil, map[string]providers.Observer{"prometheus": prometheus.New(nil)}),
		"prometheus+dynatrace": observe.New(nil, map[string]providers.Observer{"prometheus": prometheus.New(nil), "dynatrace": dt}),
	}
}

var order = []string{"none", "discard", "prometheus", "prometheus+dynatrace"}

// BenchmarkCounter is one labelled counter increment.
func BenchmarkCounter(b *testing.B) {
	svcs := services(b)
	for _, name := range order {
		svc := svcs[name]
		c := svc.NewCounter(providers.Metric{Name: "bench", Labels: []string{"route", "method", "code"}})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Add(1, "/api/v1/{collection}/{key}", "GET", "200")
			}
		})
	}
}

// BenchmarkHistogram is one labelled histogram observation.
func BenchmarkHistogram(b *testing.B) {
	svcs := services(b)
	for _, name := range order {
		h := svcs[name].NewHistogram(providers.Metric{Name: "bench_seconds", Labels: []string{"operation"}, Buckets: observe.StorageBuckets})
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.Observe(0.0012, "get")
			}
		})
	}
}

// BenchmarkSpan starts a span with an attribute and ends it.
func BenchmarkSpan(b *testing.B) {
	svcs := services(b)
	ctx := context.Background()
	for _, name := range order {
		svc := svcs[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, sp := svc.Start(ctx, "op", providers.SpanKindInternal, providers.StringAttr("db.system", "memory"))
				sp.End()
			}
		})
	}
}

// BenchmarkRequest is a whole GET of a cached key through the real server
// handler, the middleware and the decorated store (no network): the
// per-request cost of each observability set-up.
func BenchmarkRequest(b *testing.B) {
	svcs := services(b)
	for _, name := range order {
		svc := svcs[name]
		db := memory.NewDatabase()
		c, _ := memory.NewCache(1<<20, time.Minute)
		st := store.New(svc.Database(db, "memory"), svc.Cache(c, "memory"), store.Options{Timeout: time.Second})
		log := logrus.New()
		log.SetOutput(io.Discard)
		srv := server.New(server.Deps{Store: st, Health: health.New(time.Second, time.Second, "b"), Log: log, MaxBody: 1 << 20, Instrument: svc.Middleware})
		srv.SetReady(true)
		h := srv.Handler()
		_ = st.Set(context.Background(), "pets", "tom", []byte(`{"kind":"cat"}`))
		req := httptest.NewRequest("GET", "/api/v1/pets/tom", nil)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
		_ = st.Close()
	}
}

// BenchmarkRequestAsShipped is BenchmarkRequest for the default build as
// users run it: Prometheus on and the logging service's console (text, to
// /dev/null, so every line costs its write) with the access log off, on, and
// on with a log sink at info level (as Splunk would be). Each run ends by
// flushing the log, so that work done off the request path is counted too;
// run it with -cpu 1 to see the whole cost per request.
func BenchmarkRequestAsShipped(b *testing.B) {
	for _, tc := range []struct {
		name         string
		access, sink bool
	}{{"access-log=off", false, false}, {"access-log=on", true, false}, {"access-log=on+sink", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer devNull.Close()
			logs, err := logging.NewService(logging.Options{Out: devNull})
			if err != nil {
				b.Fatal(err)
			}
			if tc.sink {
				logs.AddSink("discard", discardSink{}, providers.LevelInfo)
			}
			svc := observe.New(nil, map[string]providers.Observer{"prometheus": prometheus.New(nil)})
			db := memory.NewDatabase()
			c, _ := memory.NewCache(1<<20, time.Minute)
			st := store.New(svc.Database(db, "memory"), svc.Cache(c, "memory"), store.Options{Timeout: time.Second})
			defer st.Close()
			var access *logging.AccessLog
			if tc.access {
				access = logs.AccessLog()
			}
			srv := server.New(server.Deps{Store: st, Health: health.New(time.Second, time.Second, "b"), Log: logs.Logger(),
				MaxBody: 1 << 20, Access: access, Instrument: svc.Middleware})
			srv.SetReady(true)
			h := srv.Handler()
			_ = st.Set(context.Background(), "bench", "k000042", make([]byte, 256))
			req := httptest.NewRequest("GET", "/api/v1/bench/k000042", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != 200 {
					b.Fatal(w.code)
				}
			}
			if err := logs.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			if access != nil { // lines dropped would flatter the figures
				b.ReportMetric(float64(access.Dropped()), "dropped-lines")
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status, so that
// the benchmark measures the server rather than httptest's recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return len(b), nil
}

// discardSink is a log sink that takes entries and keeps nothing.
type discardSink struct{}

func (discardSink) Write(*providers.LogEntry)   {}
func (discardSink) Flush(context.Context) error { return nil }
func (discardSink) Close(context.Context) error { return nil }
