package observe

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/providers"
)

type httpMetrics struct {
	requests *Counter
	duration *Histogram

	// routes caches each (route, method, code)'s series: the label lookups
	// happen once per combination, not once per request. Routes are the
	// mux's patterns and methods are normalized, so the set stays small.
	mu     sync.Mutex // serializes additions
	routes atomic.Pointer[map[routeKey]*routeSeries]
}

type routeKey struct {
	route, method string
	code          int
}

type routeSeries struct {
	requests *CounterSeries
	duration *HistogramSeries
}

// series returns the cached series of one combination, adding it (a copy
// of the map, so that lookups take no lock) the first time.
func (m *httpMetrics) series(route, method string, code int) *routeSeries {
	k := routeKey{route, method, code}
	if rs := (*m.routes.Load())[k]; rs != nil {
		return rs
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.routes.Load()
	if rs := cur[k]; rs != nil {
		return rs
	}
	codeStr := strconv.Itoa(code)
	rs := &routeSeries{requests: m.requests.With(route, method, codeStr), duration: m.duration.With(route, method, codeStr)}
	next := maps.Clone(cur)
	next[k] = rs
	m.routes.Store(&next)
	return rs
}

func (s *Service) httpInstruments() *httpMetrics {
	s.httpOnce.Do(func() {
		labels := []string{"route", "method", "code"}
		s.http = &httpMetrics{
			requests: s.NewCounter(providers.Metric{Name: "http_requests", Help: "HTTP requests served, by route (the mux pattern), method and status code.", Labels: labels}),
			duration: s.NewHistogram(providers.Metric{Name: "http_request_duration", Unit: "seconds", Help: "Time to serve an HTTP request, by route, method and status code.", Labels: labels, Buckets: HTTPBuckets}),
		}
		s.http.routes.Store(&map[routeKey]*routeSeries{})
	})
	return s.http
}

// Middleware instruments next: it counts requests and their durations by
// route (the ServeMux pattern that matched, never the raw path), method and
// status code; and, with a tracing provider active, makes a server span per
// request, continuing the trace of an incoming W3C traceparent and returning
// the server span's traceparent in the response. With no provider active it
// returns next itself.
func (s *Service) Middleware(next http.Handler) http.Handler {
	if !s.Active() {
		return next
	}
	m := s.httpInstruments()
	tracing := s.Tracing()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		method := normMethod(r.Method)
		var span *Span
		if tracing {
			ctx := r.Context()
			if sc, ok := Extract(r.Header); ok {
				ctx = ContextWithRemote(ctx, sc)
			}
			ctx, span = s.Start(ctx, method, providers.SpanKindServer,
				providers.StringAttr("http.request.method", method),
				providers.StringAttr("url.path", r.URL.Path))
			sc := span.Context()
			w.Header().Set(providers.TraceparentHeader, sc.Traceparent())
			if sc.TraceState != "" {
				w.Header().Set(providers.TracestateHeader, sc.TraceState)
			}
			r = r.WithContext(ctx)
		}
		// The server's own wrapper records the status already.
		rec, ok := w.(*StatusWriter)
		if !ok {
			rec = &StatusWriter{ResponseWriter: w}
		}
		defer func() {
			// The mux stored the matched pattern in r (ServeMux sets
			// Request.Pattern on the request it was given).
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := rec.Status()
			if code == 0 {
				code = http.StatusOK
				if p := recover(); p != nil { // a panic that reached us aborts the response
					code = http.StatusInternalServerError
					defer panic(p)
				}
			}
			rs := m.series(route, method, code)
			rs.requests.Add(1)
			rs.duration.Observe(time.Since(start).Seconds())
			if span != nil {
				span.SetName(method + " " + route)
				span.SetAttributes(providers.StringAttr("http.route", route),
					providers.IntAttr("http.response.status_code", int64(code)))
				if code >= 500 {
					span.SetStatus(providers.SpanStatusError, http.StatusText(code))
				}
				span.End()
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// StatusWriter records the status and size of a response: the
// middleware's, and the server's for its access log (whose writer the
// middleware then uses as it is).
type StatusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Status is the response status so far, 0 before anything was written.
func (w *StatusWriter) Status() int { return w.status }

// Bytes is how many bytes of body were written so far.
func (w *StatusWriter) Bytes() int { return w.bytes }

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
