package observe

import (
	"net/http"
	"strconv"
	"time"

	"github.com/navius-dev/navius/providers"
)

type httpMetrics struct {
	requests *Counter
	duration *Histogram
}

func (s *Service) httpInstruments() *httpMetrics {
	s.httpOnce.Do(func() {
		labels := []string{"route", "method", "code"}
		s.http = &httpMetrics{
			requests: s.NewCounter(providers.Metric{Name: "http_requests", Help: "HTTP requests served, by route (the mux pattern), method and status code.", Labels: labels}),
			duration: s.NewHistogram(providers.Metric{Name: "http_request_duration", Unit: "seconds", Help: "Time to serve an HTTP request, by route, method and status code.", Labels: labels, Buckets: HTTPBuckets}),
		}
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
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			// The mux stored the matched pattern in r (ServeMux sets
			// Request.Pattern on the request it was given).
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			code := rec.status
			if code == 0 {
				code = http.StatusOK
				if p := recover(); p != nil { // a panic that reached us aborts the response
					code = http.StatusInternalServerError
					defer panic(p)
				}
			}
			codeStr := strconv.Itoa(code)
			m.requests.Add(1, route, method, codeStr)
			m.duration.Observe(time.Since(start).Seconds(), route, method, codeStr)
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

// statusRecorder remembers the response status.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
