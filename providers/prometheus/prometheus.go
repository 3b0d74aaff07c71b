// Package prometheus is navius's Prometheus metrics provider: a
// client_golang registry, with the Go and process collectors, served in the
// text exposition format on the public listener (default /metrics).
//
// Metric names follow Prometheus conventions: the navius_ prefix, the base
// unit as a suffix (_seconds, _bytes) and _total on counters.
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/navius-dev/navius/providers"
)

// Namespace prefixes every metric name.
const Namespace = "navius"

// Options are the provider's config options.
var Options = []providers.Option{
	{Key: "prometheus.enabled", Type: providers.Bool, Default: "true", Description: "Serve Prometheus metrics on the API listener at prometheus.path."},
	{Key: "prometheus.path", Type: providers.String, Default: "/metrics", Description: "Path of the Prometheus metrics endpoint."},
}

// Provider is an open Prometheus registry.
type Provider struct {
	reg         *prometheus.Registry
	path        string
	collect     func(context.Context)
	runtimeOnce sync.Once
}

var pathRE = regexp.MustCompile(`^/[A-Za-z0-9_./-]*$`)

// Open returns the provider, or nil when prometheus.enabled is false.
func Open(_ context.Context, cfg providers.ObservabilityConfig) (providers.Observer, error) {
	if !cfg.Settings.Bool("prometheus.enabled") {
		return nil, nil
	}
	if err := Check(cfg.Settings); err != nil {
		return nil, err
	}
	p := New(cfg.Collect)
	p.path = cfg.Settings.String("prometheus.path")
	return p, nil
}

// Check is the part of Open that depends on the settings alone: a plain
// path that is not one of the server's own.
func Check(s providers.Settings) error {
	path := s.String("prometheus.path")
	switch {
	case !s.Bool("prometheus.enabled"):
	case !pathRE.MatchString(path):
		return providers.Invalid("prometheus.path %q is not a plain URL path: use one such as /metrics", path)
	case providers.ReservedPath(path):
		return providers.Invalid("prometheus.path %s is one of the server's own endpoints (%s, /api/...): use another, such as /metrics", path, strings.Join(providers.ReservedPaths, ", "))
	}
	return nil
}

// New returns a provider with a fresh registry; the Go and process
// collectors join it at the first scrape (building the Go collector's
// runtime/metrics descriptions costs milliseconds of startup otherwise).
// collect, when not nil, runs before each scrape.
func New(collect func(context.Context)) *Provider {
	return &Provider{reg: prometheus.NewRegistry(), path: "/metrics", collect: collect}
}

// runtimeCollectors registers the Go and process collectors once.
func (p *Provider) runtimeCollectors() {
	p.runtimeOnce.Do(func() {
		p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	})
}

// Registry returns the underlying registry (to register more collectors),
// with the Go and process collectors in it.
func (p *Provider) Registry() *prometheus.Registry {
	p.runtimeCollectors()
	return p.reg
}

// Handlers serves the metrics endpoint, to GET (and HEAD) only.
func (p *Provider) Handlers() map[string]http.Handler {
	return map[string]http.Handler{http.MethodGet + " " + p.path: p.Handler()}
}

// Handler serves the registry in the text exposition format, refreshing
// read-at-collection values first.
func (p *Provider) Handler() http.Handler {
	h := promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, r.Method+" is not allowed on "+r.URL.Path+"; use GET", http.StatusMethodNotAllowed)
			return
		}
		p.runtimeCollectors()
		if p.collect != nil {
			p.collect(r.Context())
		}
		h.ServeHTTP(w, r)
	})
}

// Shutdown has nothing to flush: Prometheus pulls.
func (p *Provider) Shutdown(context.Context) error { return nil }

// MetricName is the Prometheus name of m: navius_<name>[_<unit>][_total].
func MetricName(m providers.Metric) string {
	name := Namespace + "_" + m.Name
	if m.Unit != "" && !strings.HasSuffix(name, "_"+m.Unit) {
		name += "_" + m.Unit
	}
	if m.Kind == providers.Counter && !strings.HasSuffix(name, "_total") {
		name += "_total"
	}
	return name
}

// Instrument registers m and returns its recorder.
func (p *Provider) Instrument(m providers.Metric) (providers.Instrument, error) {
	name := MetricName(m)
	var c prometheus.Collector
	switch m.Kind {
	case providers.Counter:
		c = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: m.Help}, m.Labels)
	case providers.Gauge:
		c = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: m.Help}, m.Labels)
	case providers.Histogram:
		buckets := m.Buckets
		if buckets == nil {
			buckets = prometheus.DefBuckets
		}
		c = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: m.Help, Buckets: buckets}, m.Labels)
	default:
		return nil, fmt.Errorf("metric %s: unknown kind %v", name, m.Kind)
	}
	if err := p.reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		c = are.ExistingCollector // the same metric declared again: share it
	}
	switch v := c.(type) {
	case *prometheus.CounterVec:
		if m.Kind == providers.Counter {
			return counter{v}, nil
		}
	case *prometheus.GaugeVec:
		if m.Kind == providers.Gauge {
			return gauge{v}, nil
		}
	case *prometheus.HistogramVec:
		if m.Kind == providers.Histogram {
			return histogram{v}, nil
		}
	}
	return nil, fmt.Errorf("metric %s is already registered as another type", name)
}

type counter struct{ v *prometheus.CounterVec }
type gauge struct{ v *prometheus.GaugeVec }
type histogram struct{ v *prometheus.HistogramVec }

func (c counter) Record(v float64, lv []string) {
	if m, err := c.v.GetMetricWithLabelValues(lv...); err == nil {
		counterSeries{m}.Record(v)
	}
}

func (g gauge) Record(v float64, lv []string) {
	if m, err := g.v.GetMetricWithLabelValues(lv...); err == nil {
		gaugeSeries{m}.Record(v)
	}
}

func (h histogram) Record(v float64, lv []string) {
	if m, err := h.v.GetMetricWithLabelValues(lv...); err == nil {
		histogramSeries{m}.Record(v)
	}
}

// Bind implements providers.SeriesBinder: the label lookup happens here,
// once, instead of in every Record.
func (c counter) Bind(lv []string) providers.Series {
	if m, err := c.v.GetMetricWithLabelValues(lv...); err == nil {
		return counterSeries{m}
	}
	return nil
}

func (g gauge) Bind(lv []string) providers.Series {
	if m, err := g.v.GetMetricWithLabelValues(lv...); err == nil {
		return gaugeSeries{m}
	}
	return nil
}

func (h histogram) Bind(lv []string) providers.Series {
	if m, err := h.v.GetMetricWithLabelValues(lv...); err == nil {
		return histogramSeries{m}
	}
	return nil
}

type counterSeries struct{ c prometheus.Counter }

func (s counterSeries) Record(v float64) {
	if v >= 0 { // a negative increment would panic
		s.c.Add(v)
	}
}

type gaugeSeries struct{ g prometheus.Gauge }

func (s gaugeSeries) Record(v float64) { s.g.Set(v) }

type histogramSeries struct{ o prometheus.Observer }

func (s histogramSeries) Record(v float64) { s.o.Observe(v) }
