// Package dynatrace is navius's Dynatrace provider. Metrics are aggregated in
// process and pushed on an interval to the Metrics API v2
// (POST <endpoint>/api/v2/metrics/ingest, text/plain line protocol built
// with dynatrace-metric-utils-go), or to a local OneAgent. Spans are
// exported over OTLP/HTTP protobuf to <endpoint>/api/v2/otlp/v1/traces,
// encoded with the gRPC-free slim OTLP protos and google.golang.org/protobuf.
package dynatrace

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Options are the provider's config options.
var Options = []providers.Option{
	{Key: "dynatrace.endpoint", Type: providers.URL,
		Description: "Where to send metrics and traces: the environment URL (https://{id}.live.dynatrace.com), an ActiveGate (https://host:9999/e/{id}) or a local OneAgent (http://localhost:14499/metrics/ingest). Setting it turns Dynatrace export on."},
	{Key: "dynatrace.token", Type: providers.String, Secret: true,
		Description: "API token with the metrics.ingest and openTelemetryTrace.ingest scopes, sent as Authorization: Api-Token. A local OneAgent needs none."},
	{Key: "dynatrace.push_interval", Type: providers.Duration, Default: "60s", Description: "How often metrics are pushed."},
	{Key: "dynatrace.metrics", Type: providers.Bool, Default: "true", Description: "Push metrics to the Metrics API v2."},
	{Key: "dynatrace.traces", Type: providers.Bool, Default: "true", Description: "Export request traces over OTLP/HTTP."},
	{Key: "dynatrace.trace_flush_interval", Type: providers.Duration, Default: "5s", Description: "Longest time a finished span waits before it is sent."},
	{Key: "dynatrace.timeout", Type: providers.Duration, Default: "10s", Description: "Bound on each request to Dynatrace."},
}

func init() {
	Options = append(Options, providers.TLSOptions("dynatrace", "the endpoint")...)
}

// Config configures the provider.
type Config struct {
	// Endpoint is an environment URL, an ActiveGate URL or a OneAgent
	// metrics ingest URL.
	Endpoint string
	Token    string
	// PushInterval is how often metrics are pushed; 0 means 60s.
	PushInterval time.Duration
	// Metrics and Traces switch the two exports.
	Metrics, Traces bool
	// TraceFlushInterval bounds how long a span waits; 0 means 5s.
	TraceFlushInterval time.Duration
	// Timeout bounds each request; 0 means 10s.
	Timeout     time.Duration
	ServiceName string
	Version     string
	// Client sends the requests; nil builds one from TLS settings.
	Client *http.Client
	Log    providers.Logger
	// Collect runs before each metrics push.
	Collect func(context.Context)
	// Backoff is the first retry delay (doubling up to 30s); 0 means 1s.
	Backoff time.Duration
	// MaxRetries bounds retries of a 429 or 5xx; 0 means 4.
	MaxRetries int
}

// Endpoints derives the metrics ingest and OTLP traces URLs from an
// endpoint, and reports whether it is on this host (a local OneAgent, which
// takes no token).
//
//	https://abc.live.dynatrace.com          -> .../api/v2/metrics/ingest, .../api/v2/otlp/v1/traces
//	https://ag:9999/e/abc                   -> .../e/abc/api/v2/metrics/ingest, .../e/abc/api/v2/otlp/v1/traces
//	https://abc.live.dynatrace.com/api/v2   -> the same as the first
//	http://localhost:14499/metrics/ingest   -> that URL, http://localhost:14499/otlp/v1/traces
func Endpoints(endpoint string) (metricsURL, tracesURL string, local bool, err error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", false, providers.Invalid("dynatrace.endpoint %q is not an http(s) URL: use the environment URL (https://{id}.live.dynatrace.com), an ActiveGate URL or http://localhost:14499/metrics/ingest", providers.Redact(endpoint))
	}
	if u.User != nil || u.RawQuery != "" {
		return "", "", false, providers.Invalid("dynatrace.endpoint must not carry credentials or a query; put the token in dynatrace.token (NAVIUS_DYNATRACE_TOKEN)")
	}
	path := strings.TrimRight(u.Path, "/")
	var base string
	switch {
	case strings.HasSuffix(path, "/metrics/ingest"):
		base = strings.TrimSuffix(path, "/metrics/ingest")
	case strings.HasSuffix(path, "/api/v2"):
		base = path
	default:
		base = path + "/api/v2"
	}
	m, t := *u, *u
	m.Path, t.Path = base+"/metrics/ingest", base+"/otlp/v1/traces"
	return m.String(), t.String(), isLocal(u.Hostname()), nil
}

func isLocal(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Open reads the dynatrace.* options; it returns nil (off) when
// dynatrace.endpoint is empty.
func Open(ctx context.Context, cfg providers.ObservabilityConfig) (providers.Observer, error) {
	s := cfg.Settings
	if s.String("dynatrace.endpoint") == "" {
		return nil, nil
	}
	client, err := httpClient(providers.TLSFromSettings(s, "dynatrace"))
	if err != nil {
		return nil, err
	}
	return New(Config{
		Endpoint:           s.String("dynatrace.endpoint"),
		Token:              s.String("dynatrace.token"),
		PushInterval:       s.Duration("dynatrace.push_interval"),
		Metrics:            s.Bool("dynatrace.metrics"),
		Traces:             s.Bool("dynatrace.traces"),
		TraceFlushInterval: s.Duration("dynatrace.trace_flush_interval"),
		Timeout:            s.Duration("dynatrace.timeout"),
		ServiceName:        cfg.ServiceName,
		Version:            cfg.Version,
		Client:             client,
		Log:                cfg.Log,
		Collect:            cfg.Collect,
	})
}

func httpClient(t providers.TLSConfig) (*http.Client, error) {
	tc, err := t.Config("dynatrace", "")
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, nil
}

// Provider is an open Dynatrace exporter: a Meter, a Tracer and a health
// contributor.
type Provider struct {
	cfg        Config
	metricsURL string
	tracesURL  string

	meter *meter
	spans *spanExporter

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	// shutdownCtx bounds the final flush; set before stop is closed.
	shutdownCtx context.Context

	stats Stats
}

// Stats count what was sent and what the API answered.
type Stats struct {
	Pushes       atomic.Int64 // metric requests that got an answer
	LinesOK      atomic.Int64 // lines the API accepted (linesOk)
	LinesInvalid atomic.Int64 // lines the API rejected (linesInvalid)
	LinesDropped atomic.Int64 // lines given up on (retries exhausted, auth, 4xx)
	Retries      atomic.Int64 // requests resent after a 429, a 5xx or a network error

	SpansExported atomic.Int64 // spans the OTLP endpoint accepted
	SpansRejected atomic.Int64 // spans it rejected (partial success, 400)
	SpansDropped  atomic.Int64 // spans lost to a full queue, auth or exhausted retries

	mu         sync.Mutex
	metricsErr string
	tracesErr  string
	lastPush   time.Time
	lastExport time.Time
}

// endpoints checks the endpoint and token and derives the ingest URLs.
func endpoints(endpoint, token string) (metricsURL, tracesURL string, err error) {
	mu, tu, local, err := Endpoints(endpoint)
	if err != nil {
		return "", "", err
	}
	if token == "" && !local {
		return "", "", providers.Invalid("dynatrace.token is required for %s: set NAVIUS_DYNATRACE_TOKEN to an API token with the metrics.ingest and openTelemetryTrace.ingest scopes (only a local OneAgent endpoint takes none)", endpoint)
	}
	if token != "" && !local && strings.HasPrefix(mu, "http:") {
		return "", "", providers.Invalid("dynatrace.endpoint %s: use https://, or the token would cross the network in clear text", endpoint)
	}
	return mu, tu, nil
}

// Check is the part of Open that depends on the settings alone.
func Check(s providers.Settings) error {
	if s.String("dynatrace.endpoint") == "" {
		return nil
	}
	if _, err := httpClient(providers.TLSFromSettings(s, "dynatrace")); err != nil {
		return err
	}
	_, _, err := endpoints(s.String("dynatrace.endpoint"), s.String("dynatrace.token"))
	return err
}

// New validates cfg and starts the background push and export loops.
func New(cfg Config) (*Provider, error) {
	mu, tu, err := endpoints(cfg.Endpoint, cfg.Token)
	if err != nil {
		return nil, err
	}
	if cfg.PushInterval <= 0 {
		cfg.PushInterval = 60 * time.Second
	}
	if cfg.TraceFlushInterval <= 0 {
		cfg.TraceFlushInterval = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 4
	}
	if cfg.Client == nil {
		cfg.Client, _ = httpClient(providers.TLSConfig{})
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "navius"
	}
	p := &Provider{cfg: cfg, metricsURL: mu, tracesURL: tu, stop: make(chan struct{})}
	if cfg.Metrics {
		p.meter = newMeter(cfg.ServiceName)
		p.wg.Add(1)
		go p.pushLoop()
	}
	if cfg.Traces {
		p.spans = newSpanExporter(p)
		p.wg.Add(1)
		go p.spans.loop()
	}
	if cfg.Log != nil {
		what := []string{}
		if cfg.Metrics {
			what = append(what, "metrics to "+mu+" every "+cfg.PushInterval.String())
		}
		if cfg.Traces {
			what = append(what, "traces to "+tu)
		}
		if len(what) > 0 {
			cfg.Log.Infof("dynatrace: sending %s", strings.Join(what, " and "))
		}
	}
	return p, nil
}

// MetricsURL and TracesURL are where the provider sends.
func (p *Provider) MetricsURL() string { return p.metricsURL }
func (p *Provider) TracesURL() string  { return p.tracesURL }

// Stats returns the provider's counters.
func (p *Provider) Stats() *Stats { return &p.stats }

// Instrument declares a metric (see providers.Meter). With metrics switched
// off it records nothing.
func (p *Provider) Instrument(m providers.Metric) (providers.Instrument, error) {
	if p.meter == nil {
		return discard{}, nil
	}
	return p.meter.instrument(m)
}

type discard struct{}

func (discard) Record(float64, []string) {}

// ExportSpan queues a finished span (see providers.Tracer).
func (p *Provider) ExportSpan(s *providers.SpanData) {
	if p.spans != nil {
		p.spans.enqueue(s)
	}
}

func (p *Provider) pushLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.PushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PushInterval)
			p.Push(ctx)
			cancel()
		case <-p.stop:
			return
		}
	}
}

// Push sends the metrics aggregated since the last push now (the loop calls
// it every push interval, Shutdown once more).
func (p *Provider) Push(ctx context.Context) {
	if p.meter == nil {
		return
	}
	if p.cfg.Collect != nil {
		p.cfg.Collect(ctx)
	}
	lines := p.meter.lines(time.Now())
	if len(lines) == 0 {
		return
	}
	p.sendLines(ctx, lines)
}

// Shutdown pushes the last metrics and sends the queued spans, within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.shutdownCtx = ctx
		close(p.stop)
	})
	p.wg.Wait() // the loops end; the span loop has flushed its queue
	p.Push(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dynatrace: not everything was sent before the shutdown deadline: %w", err)
	}
	return nil
}

// HealthIndicators reports the outcome of the last push and export; the
// indicator is not critical (the API keeps serving without Dynatrace).
func (p *Provider) HealthIndicators() []providers.HealthIndicator {
	return []providers.HealthIndicator{{
		Name: "dynatrace", Order: 60, Critical: false, ComponentType: "component",
		Metadata: map[string]string{"metrics_url": p.metricsURL, "traces_url": p.tracesURL},
		Check: func(context.Context) providers.HealthResult {
			st := &p.stats
			st.mu.Lock()
			defer st.mu.Unlock()
			details := map[string]any{
				"pushes": st.Pushes.Load(), "lines_ok": st.LinesOK.Load(), "lines_invalid": st.LinesInvalid.Load(),
				"lines_dropped": st.LinesDropped.Load(), "retries": st.Retries.Load(),
				"spans_exported": st.SpansExported.Load(), "spans_rejected": st.SpansRejected.Load(), "spans_dropped": st.SpansDropped.Load(),
			}
			if !st.lastPush.IsZero() {
				details["last_push"] = st.lastPush.UTC().Format(time.RFC3339)
			}
			if !st.lastExport.IsZero() {
				details["last_trace_export"] = st.lastExport.UTC().Format(time.RFC3339)
			}
			var errs []string
			if st.metricsErr != "" {
				errs = append(errs, "metrics: "+st.metricsErr)
			}
			if st.tracesErr != "" {
				errs = append(errs, "traces: "+st.tracesErr)
			}
			switch {
			case len(errs) > 0:
				return providers.HealthResult{Status: providers.StatusDown, Details: details, Error: strings.Join(errs, "; ")}
			case st.lastPush.IsZero() && st.lastExport.IsZero():
				details["note"] = "nothing sent yet"
				return providers.HealthResult{Status: providers.StatusUnknown, Details: details}
			}
			return providers.HealthResult{Status: providers.StatusUp, Details: details}
		},
	}}
}

func (st *Stats) setMetricsResult(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastPush = time.Now()
	st.metricsErr = errString(err)
}

func (st *Stats) setTracesResult(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastExport = time.Now()
	st.tracesErr = errString(err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (p *Provider) shutdownContext() context.Context {
	if p.shutdownCtx == nil {
		return context.Background()
	}
	return p.shutdownCtx
}
