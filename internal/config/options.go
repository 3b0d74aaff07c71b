package config

import (
	"runtime"
	"slices"
	"strconv"

	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/providers"
)

// DefaultDatabaseURL is bolt's file when bolt is compiled in, else memory
// when it is, else none: a build of networked databases only has no
// default, and serve asks for one.
func DefaultDatabaseURL() string { return DefaultDatabaseURLWith(providers.Databases.Names()) }

// DefaultDatabaseURLWith is the default database URL of a build whose
// database providers are databases (navius build --from-config asks it of
// the build it is choosing); "" for none.
func DefaultDatabaseURLWith(databases []string) string {
	switch {
	case slices.Contains(databases, "bolt"):
		return "bolt://./data/navius.db"
	case slices.Contains(databases, "memory"):
		return "memory://"
	}
	return ""
}

// DefaultCacheURL is memory when it is compiled in, else none (no cache).
func DefaultCacheURL() string { return DefaultCacheURLWith(providers.Caches.Names()) }

// DefaultCacheURLWith is the default cache URL of a build whose cache
// providers are caches.
func DefaultCacheURLWith(caches []string) string {
	if slices.Contains(caches, "memory") {
		return "memory://"
	}
	return "none"
}

// maxBody bounds the sizes of request bodies, which are read into memory.
const maxBody = "1GiB"

// defaultPoolSize is database.max_connections' default: 10 per CPU the Go
// runtime uses, go-redis's own default, so that a pool does not cap a
// bigger machine at 10 requests to the database at a time.
func defaultPoolSize() string { return strconv.Itoa(10 * runtime.GOMAXPROCS(0)) }

func init() {
	core := []providers.Option{
		{Key: "listen", Type: providers.Address, Default: "127.0.0.1:8080", Description: "Address the HTTP API listens on (host:port; :8080 for every interface)."},
		{Key: "server.read_header_timeout", Type: providers.Duration, Default: "5s", Min: "1ms", Description: "Time allowed to read a request's headers."},
		{Key: "server.read_timeout", Type: providers.Duration, Default: "30s", Min: "1ms", Description: "Time allowed to read a whole request, body included."},
		{Key: "server.write_timeout", Type: providers.Duration, Default: "30s", Min: "1ms", Description: "Time allowed to write a response."},
		{Key: "server.idle_timeout", Type: providers.Duration, Default: "75s", Min: "1ms", Description: "How long an idle keep-alive connection stays open (longer than a load balancer's own idle timeout, 60s on AWS, so that it never sends on a connection navius is closing). Near server.max_connections idle connections are closed first, whatever their age."},
		{Key: "server.shutdown_timeout", Type: providers.Duration, Default: "25s", Min: "1ms", Description: "On SIGTERM/SIGINT, the bound on the whole shutdown: in-flight requests finish, then the database closes, metrics and spans are pushed and log sinks flushed in what is left (a fifth of it at least); \"stopped\" is the last line. Below Kubernetes' default grace period of 30s."},
		{Key: "server.max_connections", Type: providers.Int, Default: "derived from the open-file limit: what is left of it after an eighth (at least 64) for navius's own files, 32 for the pprof listener and a fiftieth for probes, at most 10000",
			DefaultFunc: func() string { return strconv.Itoa(limits.DefaultMaxConnections(limits.FileLimit())) }, Min: "1", Max: "10000000",
			Description: "Most client connections the API listener holds at once. Beyond it, an idle keep-alive connection is closed to make room; with none idle, a new connection is closed at once, except that a share kept for probes (a fiftieth more, at least 16) serves one /livez, /readyz, /health or metrics request on it. Watch streams count as connections."},
		{Key: "server.max_connections_per_ip", Type: providers.Int, Default: "0", Min: "0", Max: "10000000",
			Description: "Most connections one client (an IPv4 address, an IPv6 /64) holds at once, its idle ones closed first; 0: a quarter of server.max_connections. Behind a proxy every client is the proxy's address: raise it there."},
		{Key: "server.max_inflight", Type: providers.Int, Default: "256 per CPU (GOMAXPROCS)", DefaultFunc: func() string { return strconv.Itoa(limits.DefaultInflight()) }, Min: "0", Max: "10000000",
			Description: "Most API requests served at once; more get 503 with Retry-After at once instead of waiting in a queue. Probes (/livez, /readyz, /health), metrics scrapes and watch streams are never counted nor refused. 0: no bound."},
		{Key: "server.max_body_bytes", Type: providers.Bytes, Default: "1MiB", Min: "1", Max: maxBody, Description: "Largest value a PUT accepts; bigger bodies get 413."},
		{Key: "server.max_page_bytes", Type: providers.Bytes, Default: "4MiB", Max: maxBody, Description: "Bound on the keys and values of one list page: the page ends early with a next_cursor (it always holds at least one entry). 0: only limit bounds it."},
		{Key: "server.max_batch_operations", Type: providers.Int, Default: "100", Min: "1", Max: "100000", Description: "Most operations in one POST /api/v1/_batch; more get 413."},
		{Key: "server.max_batch_bytes", Type: providers.Bytes, Default: "4MiB", Min: "1", Max: maxBody, Description: "Largest body POST /api/v1/_batch accepts; bigger get 413."},

		{Key: "server.tls.cert_file", Type: providers.String, Description: "PEM certificate (with its chain) the API listener serves TLS with (TLS 1.2 or later, HTTP/2); with server.tls.key_file it turns TLS on. The pprof listener serves it too. Reloaded when the file changes, or on SIGHUP, without dropping connections."},
		{Key: "server.tls.key_file", Type: providers.String, Description: "PEM private key of server.tls.cert_file."},
		{Key: "server.tls.client_ca_file", Type: providers.String, Description: "PEM CA certificates that client certificates must chain to (mutual TLS); goes with server.tls.client_auth. Reloaded with the certificate."},
		{Key: "server.tls.client_auth", Type: providers.Enum, Default: "none", Enum: []string{"none", "request", "require"},
			Description: "Client certificates: none; request (verify one a client sends: auth.client_cert_scopes gives it scopes); require (refuse connections without a valid one)."},
		{Key: "server.tls.reload_interval", Type: providers.Duration, Default: "10s", Min: "10ms", Description: "How often the TLS files are checked for a change (SIGHUP reloads them at once)."},

		{Key: "database.url", Type: providers.URL, Default: "bolt://./data/navius.db when bolt is compiled in, else memory:// when memory is, else none (set it)", DefaultFunc: DefaultDatabaseURL,
			Description: "Database to use, by URL, whose scheme picks one of the database providers this build carries (navius --features lists them), e.g. memory://."},
		{Key: "database.provider", Type: providers.String, Description: "Provider name, when the URL scheme alone does not pick it."},
		{Key: "database.max_connections", Type: providers.Int, Default: "10 per CPU (GOMAXPROCS), as go-redis sizes its pools", DefaultFunc: defaultPoolSize, Min: "1", Max: "10000",
			Description: "Connection pool size of networked databases (per node for Redis). A fleet on one PostgreSQL may want fewer: each instance opens up to this many."},
		{Key: "database.timeout", Type: providers.Duration, Default: "5s", Min: "1ms", Description: "Bound on connecting and on each database operation."},
		{Key: "database.max_ttl", Type: providers.Duration, Default: "8760h", Description: "Longest time to live a write may ask for (?ttl=, a batch's ttl); longer get 400. 0: no bound."},
		{Key: "database.sweep_interval", Type: providers.Duration, Default: "1s", Min: "1ms", Description: "How often expired entries are reclaimed from storage (up to 1,000 a pass, more passes while there are more). They are gone for readers the moment they expire."},

		{Key: "cache.url", Type: providers.URL, Default: "memory:// when memory is compiled in, else none", DefaultFunc: DefaultCacheURL, Description: "Read-through cache in front of the database, by URL; none turns it off."},
		{Key: "cache.provider", Type: providers.String, Description: "Cache provider name, when the URL scheme alone does not pick it."},
		{Key: "cache.capacity", Type: providers.Bytes, Default: "64MiB", Min: "1KiB", Description: "Cache capacity in bytes of keys plus values."},
		{Key: "cache.default_ttl", Type: providers.Duration, Default: "5m", Description: "How long a cached entry lives; 0 keeps it until evicted or invalidated."},
		{Key: "cache.timeout", Type: providers.Duration, Default: "1s", Min: "1ms", Description: "Bound on each operation of a networked cache."},

		{Key: "log.level", Type: providers.Enum, Default: "info", Enum: []string{"trace", "debug", "info", "warn", "error", "fatal"}, Description: "Least severe level written."},
		{Key: "log.format", Type: providers.Enum, Default: "text", Enum: []string{"text", "json"}, Description: "Log line format."},
		{Key: "log.access", Type: providers.Bool, Default: "true", Description: "Log one line per HTTP request (at info level), with its request ID."},

		{Key: "watch.heartbeat", Type: providers.Duration, Default: "15s", Min: "1ms", Description: "Interval of the keep-alive comment on an idle watch stream (GET /api/v1/{collection}?watch=1), so that proxies keep it open."},
		{Key: "watch.max_watchers", Type: providers.Int, Default: "1000", Min: "0", Max: "1000000", Description: "Most open watch streams on this instance; more get 503. 0 turns watching off."},
		{Key: "watch.buffer", Type: providers.Int, Default: "256", Min: "1", Max: "1000000", Description: "Events a watch stream may fall behind before it gets resync and is closed."},
		{Key: "watch.history", Type: providers.Int, Default: "1024", Min: "0", Max: "1000000", Description: "Recent events kept so that a stream resuming with Last-Event-ID misses nothing; an older id gets resync."},
		{Key: "watch.max_value_bytes", Type: providers.Bytes, Default: "16KiB", Min: "0", Max: maxBody, Description: "Values larger than this are sent in put events without their bytes (value_omitted)."},

		{Key: "health.timeout", Type: providers.Duration, Default: "2s", Min: "1ms", Description: "Per-indicator time limit of a health check."},
		{Key: "health.cache_ttl", Type: providers.Duration, Default: "1s", Description: "How long a health report is reused before the indicators run again (at most 250ms while an indicator fails)."},
		{Key: "health.check_interval", Type: providers.Duration, Default: "5s", Min: "10ms", Description: "How often the health indicators run in the background, so that a backend going down or coming back is logged (once per change) even when no probe asks."},
		{Key: "health.disk_path", Type: providers.String, Description: "Directory whose file system the disk-space indicator watches; it must exist (default: the database file's directory for a database kept in a file, else the working directory)."},
		{Key: "health.disk_min_free", Type: providers.Bytes, Default: "100MiB", Description: "Free space below which the disk-space indicator is DOWN."},
	}
	core = append(core, providers.TLSOptions("database", "the database server")...)
	core = append(core, providers.TLSOptions("cache", "the cache server")...)
	providers.DeclareOptions("core", core...)
}
