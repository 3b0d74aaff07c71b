// Package observe is the generic observability service. It opens every
// compiled-in observability provider that its config switches on (several
// at once: Prometheus, Dynatrace, pprof), fans metric values and finished
// spans out to them, and adds the cross-cutting instrumentation in one
// place: HTTP middleware (a span per request, W3C traceparent in and out,
// request counts and durations by route), decorators around the database
// and cache providers, the health service's hook and a logrus hook.
//
// When no provider is active every entry point returns at once: instruments
// are nil and their methods return before touching their arguments, the
// middleware and the decorators hand back what they were given.
package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/navius-dev/navius/providers"
)

// Service is the observability service. A nil *Service is valid and does
// nothing.
type Service struct {
	names     []string
	observers []providers.Observer
	meters    []namedMeter
	tracers   []providers.Tracer
	profilers []providers.Profiler
	log       providers.Logger

	collectMu  sync.Mutex
	collectors []func(context.Context)

	httpOnce sync.Once
	http     *httpMetrics
}

type namedMeter struct {
	name string
	providers.Meter
}

// Open opens every registered observability provider with cfg and keeps
// those that their config switches on. On an error the providers opened so
// far are shut down.
func Open(ctx context.Context, cfg providers.ObservabilityConfig) (*Service, error) {
	s := &Service{log: cfg.Log}
	cfg.Collect = s.collect
	for _, name := range providers.Observers.Names() {
		o, _, err := providers.Observers.Open(ctx, name, "", cfg)
		if err != nil {
			_ = s.Shutdown(ctx)
			return nil, err
		}
		if o != nil {
			s.Add(name, o)
		}
	}
	return s, nil
}

// New returns a service over already opened providers (tests and teams that
// assemble their own).
func New(log providers.Logger, observers map[string]providers.Observer) *Service {
	s := &Service{log: log}
	names := make([]string, 0, len(observers))
	for n := range observers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.Add(n, observers[n])
	}
	return s
}

// Add makes o active under name. Call it before creating instruments.
func (s *Service) Add(name string, o providers.Observer) {
	s.names = append(s.names, name)
	s.observers = append(s.observers, o)
	if m, ok := o.(providers.Meter); ok {
		s.meters = append(s.meters, namedMeter{name, m})
	}
	if t, ok := o.(providers.Tracer); ok {
		s.tracers = append(s.tracers, t)
	}
	if p, ok := o.(providers.Profiler); ok {
		s.profilers = append(s.profilers, p)
	}
}

// Names lists the active providers.
func (s *Service) Names() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.names...)
}

// Metrics reports whether any metrics provider is active.
func (s *Service) Metrics() bool { return s != nil && len(s.meters) > 0 }

// Tracing reports whether any tracing provider is active.
func (s *Service) Tracing() bool { return s != nil && len(s.tracers) > 0 }

// Active reports whether any provider records metrics or spans.
func (s *Service) Active() bool { return s.Metrics() || s.Tracing() }

// OnCollect registers fn to refresh read-at-collection values (cache size,
// health); metrics providers run it right before they gather.
func (s *Service) OnCollect(fn func(context.Context)) {
	if s == nil {
		return
	}
	s.collectMu.Lock()
	defer s.collectMu.Unlock()
	s.collectors = append(s.collectors, fn)
}

// Collect runs the collectors now, as a scrape or push does.
func (s *Service) Collect(ctx context.Context) {
	if s != nil {
		s.collect(ctx)
	}
}

// collect runs the collectors; concurrent callers (a scrape during a push)
// take turns.
func (s *Service) collect(ctx context.Context) {
	s.collectMu.Lock()
	defer s.collectMu.Unlock()
	for _, fn := range s.collectors {
		fn(ctx)
	}
}

// Handlers merges the public endpoints of the active providers.
func (s *Service) Handlers() map[string]http.Handler {
	out := map[string]http.Handler{}
	if s == nil {
		return out
	}
	for _, o := range s.observers {
		if hc, ok := o.(providers.HTTPContributor); ok {
			for p, h := range hc.Handlers() {
				out[p] = h
			}
		}
	}
	return out
}

// HealthIndicators collects the indicators of the active providers.
func (s *Service) HealthIndicators() []providers.HealthIndicator {
	if s == nil {
		return nil
	}
	var out []providers.HealthIndicator
	for _, o := range s.observers {
		if hc, ok := o.(providers.HealthContributor); ok {
			out = append(out, hc.HealthIndicators()...)
		}
	}
	return out
}

// ErrNoProfiler is returned by StartProfiling when no profiling provider is
// active.
var ErrNoProfiler = errors.New("no profiling provider is active: build with FEATURES=default,pprof")

// StartProfiling starts a profile with the first active profiler.
func (s *Service) StartProfiling(name string) (providers.ProfilingSession, error) {
	if s == nil || len(s.profilers) == 0 {
		return nil, ErrNoProfiler
	}
	return s.profilers[0].StartProfiling(name)
}

// Shutdown flushes and stops every provider, within ctx.
func (s *Service) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var errs []error
	for i, o := range s.observers {
		if err := o.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.names[i], err))
		}
	}
	return errors.Join(errs...)
}

// ---- instruments ----

// instruments asks every meter for m's recorder; a meter that refuses it is
// logged and left out.
func (s *Service) instruments(m providers.Metric) []providers.Instrument {
	if s == nil || len(s.meters) == 0 {
		return nil
	}
	var out []providers.Instrument
	for _, mt := range s.meters {
		inst, err := mt.Instrument(m)
		if err != nil {
			if s.log != nil {
				s.log.Warnf("observability: %s: metric %s left out: %v", mt.name, m.Name, err)
			}
			continue
		}
		out = append(out, inst)
	}
	return out
}

// Counter adds to a metric of kind Counter. A nil *Counter does nothing.
type Counter struct{ insts []providers.Instrument }

// Gauge sets a metric of kind Gauge. A nil *Gauge does nothing.
type Gauge struct{ insts []providers.Instrument }

// Histogram observes a metric of kind Histogram. A nil *Histogram does
// nothing.
type Histogram struct{ insts []providers.Instrument }

// NewCounter declares a counter; it is nil when no metrics provider is
// active.
func (s *Service) NewCounter(m providers.Metric) *Counter {
	m.Kind = providers.Counter
	if insts := s.instruments(m); len(insts) > 0 {
		return &Counter{insts}
	}
	return nil
}

// NewGauge declares a gauge; nil when no metrics provider is active.
func (s *Service) NewGauge(m providers.Metric) *Gauge {
	m.Kind = providers.Gauge
	if insts := s.instruments(m); len(insts) > 0 {
		return &Gauge{insts}
	}
	return nil
}

// NewHistogram declares a histogram; nil when no metrics provider is active.
func (s *Service) NewHistogram(m providers.Metric) *Histogram {
	m.Kind = providers.Histogram
	if insts := s.instruments(m); len(insts) > 0 {
		return &Histogram{insts}
	}
	return nil
}

// Add adds v (>= 0) to the series of labelValues.
func (c *Counter) Add(v float64, labelValues ...string) {
	if c == nil {
		return
	}
	record(c.insts, v, labelValues)
}

// Set sets the series of labelValues to v.
func (g *Gauge) Set(v float64, labelValues ...string) {
	if g == nil {
		return
	}
	record(g.insts, v, labelValues)
}

// Observe records one observation v in the series of labelValues.
func (h *Histogram) Observe(v float64, labelValues ...string) {
	if h == nil {
		return
	}
	record(h.insts, v, labelValues)
}

// record copies the label values before they reach the providers, so that
// the caller's variadic slice never escapes: with no provider active (a nil
// instrument) a call allocates nothing. It is kept out of line so that Add,
// Set and Observe inline to a nil check at the call site.
//
//go:noinline
func record(insts []providers.Instrument, v float64, labelValues []string) {
	lv := append([]string(nil), labelValues...)
	for _, in := range insts {
		in.Record(v, lv)
	}
}

// series is one label set of an instrument, resolved in every provider.
type series []providers.Series

// bind resolves labelValues in each instrument: by the provider's
// SeriesBinder where it has one, else by a recorder that hands the same
// label values to Record on every call.
func bind(insts []providers.Instrument, labelValues []string) series {
	lv := append([]string(nil), labelValues...)
	out := make(series, 0, len(insts))
	for _, in := range insts {
		var s providers.Series
		if b, ok := in.(providers.SeriesBinder); ok {
			s = b.Bind(lv)
		}
		if s == nil {
			s = unbound{in, lv}
		}
		out = append(out, s)
	}
	return out
}

func (s series) record(v float64) {
	for _, r := range s {
		r.Record(v)
	}
}

// unbound is a series of an instrument that cannot bind one.
type unbound struct {
	in providers.Instrument
	lv []string
}

func (u unbound) Record(v float64) { u.in.Record(v, u.lv) }

// CounterSeries is one series of a counter, its labels resolved once (see
// Counter.With). A nil *CounterSeries does nothing.
type CounterSeries struct{ s series }

// HistogramSeries is one series of a histogram (see Histogram.With). A nil
// *HistogramSeries does nothing.
type HistogramSeries struct{ s series }

// With returns the series of labelValues, for code that records into it
// often: it skips the label lookup of Add.
func (c *Counter) With(labelValues ...string) *CounterSeries {
	if c == nil {
		return nil
	}
	return &CounterSeries{bind(c.insts, labelValues)}
}

// With returns the series of labelValues (see Counter.With).
func (h *Histogram) With(labelValues ...string) *HistogramSeries {
	if h == nil {
		return nil
	}
	return &HistogramSeries{bind(h.insts, labelValues)}
}

// Add adds v (>= 0).
func (c *CounterSeries) Add(v float64) {
	if c != nil {
		c.s.record(v)
	}
}

// Observe records one observation v.
func (h *HistogramSeries) Observe(v float64) {
	if h != nil {
		h.s.record(v)
	}
}

// normMethod maps an HTTP method to itself when standard, else "OTHER", so
// that clients cannot grow label cardinality.
func normMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// Default histogram buckets, in seconds.
var (
	HTTPBuckets    = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	StorageBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
)

// BuildInfo publishes the build-info gauge (value 1) with the version, Go
// version, VCS revision and the compiled-in features.
func (s *Service) BuildInfo(version, goVersion, revision string, features []string) {
	g := s.NewGauge(providers.Metric{
		Name:   "build_info",
		Help:   "Always 1; the labels describe the running binary: version, Go version, VCS revision and compiled-in features.",
		Labels: []string{"version", "go_version", "revision", "features"},
	})
	g.Set(1, version, goVersion, revision, strings.Join(features, ","))
}
