package providers

import (
	"context"
	"crypto/tls"
	"errors"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The observability contracts. Unlike the database and the cache, where the
// config picks one provider, every compiled-in observability provider that
// its config switches on is active at once (Prometheus and Dynatrace side by
// side, pprof beside either). The observability service (internal/observe)
// fans each metric value and each finished span out to all of them; with none
// active its calls return at once.
//
// A provider is an Observer that implements any of Meter (metrics), Tracer
// (tracing), Profiler (profiling), HTTPContributor (endpoints on the public
// listener) and HealthContributor (its own health indicators).

// Observer is one active observability provider.
type Observer interface {
	// Shutdown sends what is still buffered (bounded by ctx) and stops the
	// provider's background work and listeners.
	Shutdown(ctx context.Context) error
}

// ObservabilityConfig configures an observability provider.
type ObservabilityConfig struct {
	// ServiceName and Version identify this process to the backend (the
	// OTLP resource's service.name and service.version).
	ServiceName string
	Version     string
	// Settings holds every configured option; a provider reads its own
	// section (e.g. "dynatrace.endpoint").
	Settings Settings
	// Log receives the provider's own problems (a failed push, a rejected
	// batch). *logrus.Logger satisfies it.
	Log Logger
	// Collect, when set, refreshes the values that are read rather than
	// counted (cache size, health status). Metrics providers call it right
	// before they gather: on a Prometheus scrape, before a Dynatrace push.
	Collect func(ctx context.Context)
	// Guard, when set, puts the API's authentication (the admin scope) in
	// front of a handler a provider serves on a listener of its own.
	Guard func(http.Handler) http.Handler
	// TLS, when set, is the API listener's TLS config (server.tls.*: its
	// certificate, reloaded as it changes, and its client CA): a listener
	// of a provider's own serves TLS with it too.
	TLS *tls.Config
	// Serve, when set, serves a listener a provider opens for itself (the
	// pprof admin listener) as navius serves its API: the same timeouts,
	// connection limits and access log, TLS with the config above. It
	// returns the function that shuts that server down (cutting off what
	// is still running when ctx ends). Without it a provider serves its
	// listener itself.
	Serve func(ln net.Listener, h http.Handler) (shutdown func(ctx context.Context) error)
}

// Serve serves srv on ln in the background, over TLS when srv.TLSConfig
// is set, and returns the function that shuts it down: it waits for the
// requests in progress until ctx ends, then cuts them off (which is no
// error).
func Serve(srv *http.Server, ln net.Listener) (shutdown func(ctx context.Context) error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if srv.TLSConfig != nil {
			_ = srv.ServeTLS(ln, "", "")
			return
		}
		_ = srv.Serve(ln)
	}()
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			_ = srv.Close()
		}
		<-done
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
}

// Logger is the logging a provider may do.
type Logger interface {
	Debugf(format string, args ...any)
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

// Observers is the observability provider registry. An open function returns
// a nil Observer and a nil error when the provider is compiled in but its
// config leaves it off (e.g. dynatrace without an endpoint).
var Observers = NewRegistry[ObservabilityConfig, Observer]("observability")

// RegisterObserver registers an observability provider under name, with
// its check of the settings (see RegisterDatabase); every compiled-in
// observability provider's check runs, since each reads its own settings to
// tell whether it is on.
func RegisterObserver(name string, open func(context.Context, ObservabilityConfig) (Observer, error), check ...SettingsCheck) {
	checks := make([]func(ObservabilityConfig) error, len(check))
	for i, c := range check {
		if c != nil { // a nil one stays nil, which Register refuses
			checks[i] = func(cfg ObservabilityConfig) error { return c(cfg.Settings) }
		}
	}
	Observers.Register(name, nil, open, checks...)
}

// CheckObservers runs the check of every registered observability
// provider on s and returns each problem found.
func CheckObservers(s Settings) []error {
	var errs []error
	for _, name := range Observers.Names() {
		if _, err := Observers.Check(name, "", ObservabilityConfig{Settings: s}); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// HTTPContributor is implemented by providers that serve endpoints on the
// public listener (Prometheus's /metrics). Patterns are http.ServeMux
// patterns; one with a method ("GET /metrics") gets a JSON 405 for the
// others, as the API's endpoints do.
type HTTPContributor interface {
	Handlers() map[string]http.Handler
}

// ReservedPaths are the server's own endpoints on the public listener,
// which a provider's endpoint must not take, nor a path under /api/.
var ReservedPaths = []string{"/", "/health", "/livez", "/readyz", "/info", "/openapi.json"}

// ReservedPath reports whether path (a pattern's, without its method) is
// the server's own.
func ReservedPath(path string) bool {
	return slices.Contains(ReservedPaths, path) || path == "/api" || strings.HasPrefix(path, "/api/")
}

// ---- metrics ----

// MetricKind is the kind of a metric.
type MetricKind int

const (
	// Counter only goes up; a value recorded is added.
	Counter MetricKind = iota + 1
	// Gauge goes up and down; a value recorded replaces the last one.
	Gauge
	// Histogram records a distribution; a value recorded is one observation.
	Histogram
)

func (k MetricKind) String() string {
	switch k {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return "unknown"
}

// Metric describes one metric. Names are provider-neutral: lower-case words
// joined by underscores, without prefix or unit ("http_request_duration");
// each provider adds its conventions (Prometheus:
// navius_http_request_duration_seconds, navius_http_requests_total;
// Dynatrace: navius.http_request_duration_seconds).
type Metric struct {
	Name string
	Help string
	Kind MetricKind
	// Unit is the base unit, "seconds" or "bytes", or "" for a plain count.
	Unit string
	// Labels are the label (dimension) names; every recorded value gives
	// one value per label, in this order.
	Labels []string
	// Buckets are a histogram's upper bounds (Prometheus); nil picks the
	// provider's default.
	Buckets []float64
}

// Meter is implemented by metrics providers.
type Meter interface {
	// Instrument returns the recorder of one metric. It is called once per
	// metric at startup; an error (say, a name the backend can't take)
	// leaves that metric out of this provider.
	Instrument(m Metric) (Instrument, error)
}

// Instrument records the values of one metric: a counter adds v (never
// negative), a gauge sets v, a histogram observes v. labelValues has one
// value per Metric.Labels entry; the instrument may keep the slice (the
// caller never reuses it). Record is safe for concurrent use and must not
// block.
type Instrument interface {
	Record(v float64, labelValues []string)
}

// SeriesBinder is an optional extension of Instrument for hot paths: Bind
// resolves the series of labelValues once and returns its recorder, so that
// recording skips the label lookup Record does on every call. It returns
// nil when labelValues do not fit the metric. Bind may keep labelValues.
type SeriesBinder interface {
	Bind(labelValues []string) Series
}

// Series records into one series of an instrument (its label values
// fixed), as Instrument.Record does. Record is safe for concurrent use and
// must not block.
type Series interface {
	Record(v float64)
}

// ---- tracing ----

// TraceID identifies a trace (W3C trace-context: 16 bytes, not all zero).
type TraceID [16]byte

// SpanID identifies a span (8 bytes, not all zero).
type SpanID [8]byte

// IsValid reports whether the ID is not all zero.
func (t TraceID) IsValid() bool { return t != TraceID{} }

// IsValid reports whether the ID is not all zero.
func (s SpanID) IsValid() bool { return s != SpanID{} }

// SpanContext is what identifies a span across processes: its trace, its own
// ID, its parent's, and whether it is sampled (recorded and exported).
type SpanContext struct {
	TraceID TraceID
	SpanID  SpanID
	// Parent is the parent span's ID; zero for a root span.
	Parent SpanID
	// Sampled spans are exported; the flag travels to downstream services.
	Sampled bool
	// Remote marks a context that arrived from another process (an
	// incoming traceparent header) rather than a local span.
	Remote bool
	// TraceState is the W3C tracestate header, passed along unchanged.
	TraceState string
}

// IsValid reports whether both IDs are set.
func (sc SpanContext) IsValid() bool { return sc.TraceID.IsValid() && sc.SpanID.IsValid() }

// SpanKind says what a span stands for, as in OpenTelemetry.
type SpanKind int

const (
	SpanKindInternal SpanKind = iota
	// SpanKindServer: handling an incoming request.
	SpanKindServer
	// SpanKindClient: a call to another service (a database, a cache).
	SpanKindClient
)

// SpanStatus is a span's outcome, as in OpenTelemetry.
type SpanStatus int

const (
	SpanStatusUnset SpanStatus = iota
	SpanStatusOK
	SpanStatusError
)

// Attr is a span or event attribute: a key with a string, integer, float or
// boolean value. Build one with StringAttr, IntAttr, FloatAttr or BoolAttr.
// (It holds the value unboxed, so that building one costs nothing when no
// tracer is active.)
type Attr struct {
	Key  string
	Kind AttrKind
	str  string
	num  uint64 // int64, float64 bits or bool
}

// AttrKind is the type of an attribute's value.
type AttrKind uint8

const (
	AttrString AttrKind = iota
	AttrInt
	AttrFloat
	AttrBool
)

// StringAttr is an attribute with a string value.
func StringAttr(key, v string) Attr { return Attr{Key: key, Kind: AttrString, str: v} }

// IntAttr is an attribute with an integer value.
func IntAttr(key string, v int64) Attr { return Attr{Key: key, Kind: AttrInt, num: uint64(v)} }

// FloatAttr is an attribute with a float value.
func FloatAttr(key string, v float64) Attr {
	return Attr{Key: key, Kind: AttrFloat, num: math.Float64bits(v)}
}

// BoolAttr is an attribute with a boolean value.
func BoolAttr(key string, v bool) Attr {
	a := Attr{Key: key, Kind: AttrBool}
	if v {
		a.num = 1
	}
	return a
}

// Str, Int, Float and Bool return the value of an attribute of that kind.
func (a Attr) Str() string    { return a.str }
func (a Attr) Int() int64     { return int64(a.num) }
func (a Attr) Float() float64 { return math.Float64frombits(a.num) }
func (a Attr) Bool() bool     { return a.num == 1 }

// Value returns the value as a string, int64, float64 or bool.
func (a Attr) Value() any {
	switch a.Kind {
	case AttrInt:
		return a.Int()
	case AttrFloat:
		return a.Float()
	case AttrBool:
		return a.Bool()
	}
	return a.str
}

// SpanEvent is a timestamped note within a span.
type SpanEvent struct {
	Name  string
	Time  time.Time
	Attrs []Attr
}

// SpanData is a finished span as tracing providers receive it.
type SpanData struct {
	Name          string
	Kind          SpanKind
	Context       SpanContext
	Start, End    time.Time
	Attrs         []Attr
	Events        []SpanEvent
	Status        SpanStatus
	StatusMessage string
}

// Tracer is implemented by tracing providers. The observability service
// creates spans (IDs, timing, attributes, events, status) and hands every
// sampled span to each active Tracer once it ends.
type Tracer interface {
	// ExportSpan takes a finished span; it must not block (queue it and
	// send in the background, dropping and counting when the queue is
	// full). The span is not modified afterwards.
	ExportSpan(s *SpanData)
}

// ---- profiling ----

// Profiler is implemented by profiling providers.
type Profiler interface {
	// StartProfiling begins a profile: "cpu" samples from now until Stop;
	// any other runtime profile name ("heap", "goroutine", "allocs",
	// "block", "mutex", "threadcreate") is a snapshot taken at Stop.
	StartProfiling(name string) (ProfilingSession, error)
}

// ProfilingSession is a running profile.
type ProfilingSession interface {
	// Stop ends the profile and returns it in pprof format.
	Stop() ([]byte, error)
}
