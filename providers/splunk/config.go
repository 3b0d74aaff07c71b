// Package splunk is navius's Splunk HTTP Event Collector (HEC) logging
// provider: a log sink that batches entries (by count and bytes), gzips them
// and posts them to /services/collector/event from a background goroutine
// through a bounded queue, so that logging never waits on Splunk. It retries
// 503, 500 and 429 with backoff (honouring Retry-After), reports permanent
// rejections once with the HEC code and its meaning, optionally waits for
// indexer acknowledgement, contributes a non-critical health indicator and
// flushes within a deadline on Close. The token never appears in logs,
// errors or health details.
//
// The package keeps no global state; the feature's gate file
// (providers_splunk.go) registers Open and declares Options.
package splunk

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Options are the feature's config options, under the "splunk" section.
var Options = []providers.Option{
	{Key: "splunk.endpoint", Type: providers.URL, Description: "Splunk HEC base URL, e.g. https://splunk.example.com:8088; setting it turns the Splunk log sink on."},
	{Key: "splunk.token", Type: providers.String, Secret: true, Description: "HEC token (sent as \"Authorization: Splunk <token>\"); prefer NAVIUS_SPLUNK_TOKEN."},
	{Key: "splunk.insecure_http", Type: providers.Bool, Default: "false", Description: "Send the token to an http:// endpoint on another host, in clear text; without it such an endpoint is refused (one on this host's loopback is taken, as its token does not cross the network)."},
	{Key: "splunk.index", Type: providers.String, Description: "Index the events go to (default: the token's default index)."},
	{Key: "splunk.source", Type: providers.String, Default: "navius", Description: "HEC source of the events."},
	{Key: "splunk.sourcetype", Type: providers.String, Default: "_json", Description: "HEC sourcetype of the events."},
	{Key: "splunk.host", Type: providers.String, Description: "HEC host of the events (default: this machine's host name)."},
	{Key: "splunk.level", Type: providers.Enum, Default: "info", Enum: []string{"trace", "debug", "info", "warn", "error", "fatal"}, Description: "Least severe level sent to Splunk (log.level still bounds what is logged at all)."},
	{Key: "splunk.batch_size", Type: providers.Int, Default: "500", Description: "Most events in one HEC request."},
	{Key: "splunk.batch_bytes", Type: providers.Bytes, Default: "1MB", Description: "Most bytes of events (before gzip) in one HEC request; HEC's limit is 1 MB by default."},
	{Key: "splunk.flush_interval", Type: providers.Duration, Default: "1s", Description: "Longest time an event waits for its batch to fill before it is sent."},
	{Key: "splunk.queue_size", Type: providers.Int, Default: "10000", Description: "Most events waiting for delivery; beyond it new events are dropped and counted."},
	{Key: "splunk.queue_bytes", Type: providers.Bytes, Default: "16MiB", Description: "Most bytes of events waiting for delivery; beyond it new events are dropped and counted."},
	{Key: "splunk.gzip", Type: providers.Bool, Default: "true", Description: "Compress requests with gzip."},
	{Key: "splunk.timeout", Type: providers.Duration, Default: "10s", Description: "Bound on each HEC request."},
	{Key: "splunk.max_retries", Type: providers.Int, Default: "10", Description: "Retries of a batch HEC answered 429, 500 or 503 (or could not be reached) before it is given up; 0 retries until the shutdown deadline."},
	{Key: "splunk.retry_backoff", Type: providers.Duration, Default: "500ms", Description: "First wait before a retry; it doubles up to splunk.retry_max_backoff. Retry-After takes precedence."},
	{Key: "splunk.retry_max_backoff", Type: providers.Duration, Default: "30s", Description: "Longest wait between retries."},
	{Key: "splunk.ack", Type: providers.Bool, Default: "false", Description: "Use indexer acknowledgement (at-least-once delivery); the token must have it on."},
	{Key: "splunk.ack_poll_interval", Type: providers.Duration, Default: "1s", Description: "How often pending acknowledgements are polled."},
	{Key: "splunk.ack_timeout", Type: providers.Duration, Default: "1m", Description: "A batch not acknowledged within this time is sent again."},
	{Key: "splunk.shutdown_timeout", Type: providers.Duration, Default: "5s", Description: "On shutdown, how long queued events get to reach Splunk."},
	{Key: "splunk.warn_interval", Type: providers.Duration, Default: "10s", Description: "At most one console warning per interval about dropped events or retries."},
}

func init() { Options = append(Options, providers.TLSOptions("splunk", "HEC")...) }

// Config configures a Sink. Build it with ConfigFromSettings or by hand
// (zero durations and sizes take the defaults of Options).
type Config struct {
	// Endpoint is the HEC base URL (a trailing /services/collector[/event]
	// is accepted and removed).
	Endpoint string
	Token    string
	// InsecureHTTP lets the token go to an http:// endpoint on another
	// host, in clear text; without it such an endpoint is refused (one on
	// the loopback is taken).
	InsecureHTTP bool

	Index, Source, SourceType, Host string

	BatchSize     int
	BatchBytes    int64
	FlushInterval time.Duration
	QueueSize     int
	QueueBytes    int64
	Gzip          bool

	Timeout         time.Duration
	MaxRetries      int
	RetryBackoff    time.Duration
	RetryMaxBackoff time.Duration

	Ack             bool
	AckPollInterval time.Duration
	AckTimeout      time.Duration

	ShutdownTimeout time.Duration
	WarnInterval    time.Duration

	TLS providers.TLSConfig
	// Client, when set, is used instead of one built from TLS and Timeout.
	Client *http.Client
	// Console reports the sink's problems; nil discards them.
	Console func(level providers.LogLevel, msg string, fields map[string]any)
}

// Enabled tells whether the settings turn the sink on: splunk.endpoint
// (NAVIUS_SPLUNK_ENDPOINT) is set.
func Enabled(s providers.Settings) bool { return strings.TrimSpace(s.String("splunk.endpoint")) != "" }

// Level is the least severe level the settings send to Splunk.
func Level(s providers.Settings) providers.LogLevel {
	l, err := providers.ParseLogLevel(s.String("splunk.level"))
	if err != nil {
		return providers.LevelInfo
	}
	return l
}

// ConfigFromSettings reads the splunk.* options.
func ConfigFromSettings(s providers.Settings) Config {
	return Config{
		Endpoint: s.String("splunk.endpoint"), Token: s.String("splunk.token"), InsecureHTTP: s.Bool("splunk.insecure_http"),
		Index: s.String("splunk.index"), Source: s.String("splunk.source"),
		SourceType: s.String("splunk.sourcetype"), Host: s.String("splunk.host"),
		BatchSize: s.Int("splunk.batch_size"), BatchBytes: s.Bytes("splunk.batch_bytes"),
		FlushInterval: s.Duration("splunk.flush_interval"),
		QueueSize:     s.Int("splunk.queue_size"), QueueBytes: s.Bytes("splunk.queue_bytes"),
		Gzip:    s.Bool("splunk.gzip"),
		Timeout: s.Duration("splunk.timeout"), MaxRetries: s.Int("splunk.max_retries"),
		RetryBackoff: s.Duration("splunk.retry_backoff"), RetryMaxBackoff: s.Duration("splunk.retry_max_backoff"),
		Ack: s.Bool("splunk.ack"), AckPollInterval: s.Duration("splunk.ack_poll_interval"), AckTimeout: s.Duration("splunk.ack_timeout"),
		ShutdownTimeout: s.Duration("splunk.shutdown_timeout"), WarnInterval: s.Duration("splunk.warn_interval"),
		TLS: providers.TLSFromSettings(s, "splunk"),
	}
}

// Check is the part of Open that depends on the settings alone, for a
// configuration check that opens nothing.
func Check(s providers.Settings) error {
	if !Enabled(s) {
		return nil
	}
	c, err := ConfigFromSettings(s).withDefaults()
	if err != nil {
		return err
	}
	_, err = c.TLS.Config("splunk", "")
	return err
}

// Open is the provider's open function for the log sink registry.
func Open(_ context.Context, cfg providers.LogSinkConfig) (providers.LogSink, error) {
	c := ConfigFromSettings(cfg.Settings)
	c.Console = cfg.Console
	return New(c)
}

// withDefaults fills zero values and checks the rest; errors wrap
// providers.ErrInvalid and never carry the token.
func (c Config) withDefaults() (Config, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1_000_000
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 10000
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 16 << 20
	}
	def(&c.FlushInterval, time.Second)
	def(&c.Timeout, 10*time.Second)
	def(&c.RetryBackoff, 500*time.Millisecond)
	def(&c.RetryMaxBackoff, 30*time.Second)
	def(&c.AckPollInterval, time.Second)
	def(&c.AckTimeout, time.Minute)
	def(&c.ShutdownTimeout, 5*time.Second)
	def(&c.WarnInterval, 10*time.Second)
	if c.RetryMaxBackoff < c.RetryBackoff {
		c.RetryMaxBackoff = c.RetryBackoff
	}
	if c.MaxRetries < 0 {
		return c, providers.Invalid("splunk.max_retries: %d is negative; use 0 to retry until the shutdown deadline", c.MaxRetries)
	}
	if c.Source == "" {
		c.Source = "navius"
	}
	if c.SourceType == "" {
		c.SourceType = "_json"
	}
	if c.Host == "" {
		c.Host, _ = os.Hostname()
	}
	if c.Console == nil {
		c.Console = func(providers.LogLevel, string, map[string]any) {}
	}
	base, err := baseURL(c.Endpoint)
	if err != nil {
		return c, err
	}
	c.Endpoint = base
	if strings.TrimSpace(c.Token) == "" {
		return c, providers.Invalid("splunk: splunk.endpoint is set (%s) but splunk.token is empty; set NAVIUS_SPLUNK_TOKEN to the HEC token", providers.Redact(base))
	}
	if strings.ContainsAny(c.Token, "\r\n") {
		return c, providers.Invalid("splunk: splunk.token contains a line break; set NAVIUS_SPLUNK_TOKEN to the HEC token alone")
	}
	if u, _ := url.Parse(base); u.Scheme == "http" && !loopback(u.Hostname()) && !c.InsecureHTTP {
		return c, providers.Invalid("splunk: splunk.endpoint %s is http://, so the token would cross the network in clear text: use https://, or set splunk.insecure_http: true (NAVIUS_SPLUNK_INSECURE_HTTP=true) for a HEC you reach without TLS on purpose", providers.Redact(base))
	}
	return c, nil
}

// loopback reports whether host is this machine's loopback, where a token
// sent in clear text does not cross the network.
func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// baseURL checks the endpoint and strips a collector path from it.
func baseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", providers.Invalid("splunk: splunk.endpoint %q is not an HEC URL; use http(s)://host:8088", providers.Redact(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", providers.Invalid("splunk: splunk.endpoint %q must not have a query or fragment; use http(s)://host:8088", providers.Redact(raw))
	}
	p := strings.TrimRight(u.Path, "/")
	for _, suffix := range []string{"/services/collector/event/1.0", "/services/collector/event", "/services/collector"} {
		if strings.HasSuffix(p, suffix) {
			p = strings.TrimSuffix(p, suffix)
			break
		}
	}
	u.Path = p
	return u.String(), nil
}
