// Package redis provides a database and a cache on Redis (go-redis v9) in
// three topologies: one node (redis://, rediss://), a master found through
// Sentinel (redis+sentinel://) and a Redis Cluster (redis+cluster://).
// Collections are hashes walked with HSCAN (in a cluster, a fixed number of
// bucket hashes per collection spread over the masters), cache entries have
// per-entry TTLs under navius's own key prefix, and a change feed over Redis
// pub/sub lets instances sharing one Redis drop their local cache entries
// when another instance writes.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/navius-dev/navius/providers"
)

// Options are the redis feature's config options; they apply to both the
// database and the cache when either uses Redis.
var Options = []providers.Option{
	{Key: "redis.username", Type: providers.String, Description: "ACL user name; overrides the user in the URL (for Sentinel, the master's)."},
	{Key: "redis.password", Type: providers.String, Secret: true, Description: "Password (AUTH); overrides the one in the URL (for Sentinel, the master's). Prefer NAVIUS_REDIS_PASSWORD to a URL or file."},
	{Key: "redis.sentinel_username", Type: providers.String, Description: "ACL user name for the sentinels of a redis+sentinel:// URL."},
	{Key: "redis.sentinel_password", Type: providers.String, Secret: true, Description: "Password of the sentinels of a redis+sentinel:// URL (their requirepass); the URL's credentials are the master's."},
	{Key: "redis.db", Type: providers.Int, Default: "-1", Description: "Database number; -1 takes it from the URL path (redis://host:6379/2), else 0. A cluster has database 0 only."},
	{Key: "redis.dial_timeout", Type: providers.Duration, Default: "2s", Min: "1ms", Description: "Time to open a connection."},
	{Key: "redis.read_timeout", Type: providers.Duration, Default: "2s", Min: "1ms", Description: "Time to wait for a reply."},
	{Key: "redis.write_timeout", Type: providers.Duration, Default: "2s", Min: "1ms", Description: "Time to send a command."},
	{Key: "redis.key_prefix", Type: providers.String, Default: "navius", Description: "Prefix of every key navius writes (database hashes, cache entries, the change channel), so that several applications can share one Redis."},
	{Key: "redis.fallback_ttl", Type: providers.Duration, Default: "1s", Description: "While the change subscription is down, local cache entries in front of a Redis database live at most this long, since other instances' writes may be missed."},
	{Key: "redis.min_replicas", Type: providers.Int, Default: "0", Description: "Acknowledge a database write only once WAIT reports that this many replicas have it (503 otherwise); 0 acknowledges once the master has it, which a failover can lose."},
	{Key: "redis.min_replicas_timeout", Type: providers.Duration, Default: "500ms", Min: "1ms", Description: "How long a write waits for redis.min_replicas replicas before it answers 503."},
	{Key: "redis.cluster_readiness", Type: providers.Enum, Default: "any", Enum: []string{"any", "all"},
		Description: "When a Redis Cluster instance is ready: any (while any master answers: requests for keys on a failed shard get 503 with Retry-After until a replica takes over, the rest are served) or all (every master answers and every slot is covered: one shard's failover takes every instance out of the load balancer)."},
}

// client is the part of go-redis's clients that navius uses: *Client for
// one node and Sentinel, clusterClient for a cluster.
type client interface {
	commander
	HGet(ctx context.Context, key, field string) *goredis.StringCmd
	HScan(ctx context.Context, key string, cursor uint64, match string, count int64) *goredis.ScanCmd
	Get(ctx context.Context, key string) *goredis.StringCmd
	Set(ctx context.Context, key string, value any, expiration time.Duration) *goredis.StatusCmd
	Del(ctx context.Context, keys ...string) *goredis.IntCmd
	Pipelined(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error)
	Subscribe(ctx context.Context, channels ...string) *goredis.PubSub
	Close() error
}

// processor runs one command: a client, a connection, or the shared
// pipeline.
type processor interface {
	Process(ctx context.Context, cmd goredis.Cmder) error
}

// commander is what a write needs of a client or of one connection.
type commander interface {
	processor
	TxPipelined(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error)
}

// conn is what both providers need: a client for the topology, the key
// prefix and the durability setting.
type conn struct {
	client client
	mode   mode
	// cluster is the client in cluster mode; node is the client otherwise
	// (for Sentinel, one that follows the master the sentinels name).
	cluster *clusterClient
	node    *goredis.Client
	// sentinels answer for the master in Sentinel mode (health).
	sentinels     []*goredis.Client
	sentinelAddrs []string
	master        string
	dialTimeout   time.Duration
	hosts         string // the URL's host list, for health metadata
	// tlsAddrs are the URL's addresses when navius speaks TLS to them,
	// for telling a server that speaks none (plainText).
	tlsAddrs []string
	prefix   string
	// minReplicas > 0 makes writes wait for that many replicas.
	minReplicas int
	waitTimeout time.Duration
	// readyAll makes a cluster ready only while every master answers.
	readyAll bool
	// clock is the latest sample of Redis's clock (see clockSample).
	clock atomic.Pointer[clockSample]
}

// connect builds a client from a Redis URL and the settings. Multi-host
// URLs are checked against what the nodes answer (a cluster URL that names
// a node without cluster support, a master name the sentinels do not know);
// nodes that cannot be reached are not an error, as with one node: navius
// starts, reports itself not ready and connects once they answer.
func connect(ctx context.Context, rawURL string, maxConns int, tlsCfg providers.TLSConfig, timeout time.Duration, s providers.Settings) (*conn, error) {
	if err := check(rawURL, tlsCfg, s); err != nil {
		return nil, err
	}
	m, useTLS, _ := modeOf(rawURL)
	c := &conn{mode: m, prefix: s.String("redis.key_prefix"), minReplicas: s.Int("redis.min_replicas"), waitTimeout: s.Duration("redis.min_replicas_timeout"),
		readyAll: s.String("redis.cluster_readiness") == "all"}
	if c.prefix == "" {
		c.prefix = "navius"
	}
	if c.waitTimeout <= 0 {
		c.waitTimeout = 500 * time.Millisecond
	}
	if m == single {
		if err := c.connectSingle(rawURL, maxConns, tlsCfg, timeout, s); err != nil {
			return nil, err
		}
		return c.authenticated(ctx, s.Duration("redis.dial_timeout"))
	}
	t, err := parseHosts(rawURL)
	if err != nil {
		return nil, err
	}
	c.hosts = strings.Join(t.addrs, ",")
	uo := &goredis.UniversalOptions{Addrs: t.addrs, Username: t.user, Password: t.password, DB: max(t.db, 0)}
	applySettings(&optionFields{
		username: &uo.Username, password: &uo.Password, poolSize: &uo.PoolSize,
		dial: &uo.DialTimeout, read: &uo.ReadTimeout, write: &uo.WriteTimeout,
	}, maxConns, timeout, s)
	uo.MaxRetries, uo.ContextTimeoutEnabled = 1, true
	uo.MinRetryBackoff, uo.MaxRetryBackoff = 8*time.Millisecond, 64*time.Millisecond
	uo.DialerRetries, uo.DialerRetryTimeout = 1, 50*time.Millisecond
	uo.MaintNotificationsConfig = noMaintNotifications()
	if useTLS || tlsCfg.Enabled {
		c.tlsAddrs = t.addrs
		// Each node is verified under its own name (the config's
		// server_name when set), so the dialer makes the TLS connection:
		// nodes found through the cluster or the sentinels are addressed
		// by the IP they announce.
		cfg, err := tlsCfg.Config("redis", "")
		if err != nil {
			return nil, err
		}
		uo.Dialer = tlsDialer(cfg, uo.DialTimeout)
	}
	switch m {
	case cluster:
		if err := probeCluster(ctx, uo); err != nil {
			return nil, err
		}
		co := uo.Cluster()
		co.MaxRedirects = 3
		c.cluster = newClusterClient(co)
		c.client = c.cluster
	case sentinel:
		if db := s.Int("redis.db"); s.String("redis.db") != "" && db >= 0 {
			uo.DB = db
		}
		uo.MasterName = t.master
		uo.SentinelUsername, uo.SentinelPassword = s.String("redis.sentinel_username"), s.String("redis.sentinel_password")
		fo := uo.Failover()
		for _, a := range t.addrs {
			c.sentinels = append(c.sentinels, goredis.NewClient(sentinelOptions(fo, a)))
		}
		c.sentinelAddrs, c.master, c.dialTimeout = t.addrs, t.master, fo.DialTimeout
		if err := c.probeSentinels(ctx); err != nil {
			c.closeSentinels()
			return nil, err
		}
		c.node = goredis.NewFailoverClient(fo)
		c.client = c.node
	}
	return c.authenticated(ctx, s.Duration("redis.dial_timeout"))
}

// connectSingle is the one-node client, from go-redis's own URL parser.
func (c *conn) connectSingle(rawURL string, maxConns int, tlsCfg providers.TLSConfig, timeout time.Duration, s providers.Settings) error {
	opts, err := singleOptions(rawURL)
	if err != nil {
		return err
	}
	applySettings(&optionFields{
		username: &opts.Username, password: &opts.Password, poolSize: &opts.PoolSize,
		dial: &opts.DialTimeout, read: &opts.ReadTimeout, write: &opts.WriteTimeout,
	}, maxConns, timeout, s)
	if db := s.Int("redis.db"); s.String("redis.db") != "" && db >= 0 {
		opts.DB = db
	}
	// One quick retry: a request fails fast while Redis is down rather
	// than piling up behind backoff.
	opts.MaxRetries = 1
	// Deadlines of the request (database.timeout, a client that went away)
	// bound each command too, so that no request outlives its caller.
	opts.ContextTimeoutEnabled = true
	opts.MinRetryBackoff, opts.MaxRetryBackoff = 8*time.Millisecond, 64*time.Millisecond
	opts.DialerRetries, opts.DialerRetryTimeout = 1, 50*time.Millisecond
	opts.MaintNotificationsConfig = noMaintNotifications()
	if opts.TLSConfig != nil || tlsCfg.Enabled {
		host, _, _ := net.SplitHostPort(opts.Addr)
		cfg, err := tlsCfg.Config("redis", host)
		if err != nil {
			return err
		}
		opts.TLSConfig = cfg
		c.tlsAddrs = []string{opts.Addr}
	}
	c.node = goredis.NewClient(opts)
	c.client = c.node
	c.hosts = opts.Addr
	return nil
}

// noMaintNotifications turns off go-redis's maintenance notifications
// (a Redis Enterprise feature, "auto" by default): in auto mode each new
// connection asks for them with a command open-source Redis refuses, one
// round trip more per dial, and go-redis then turns the mode off while
// other connections read it, a data race the race detector reports when a
// pool dials several connections at once. go-redis's Failover client
// already turns them off.
func noMaintNotifications() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}

// optionFields points at the fields of go-redis's option structs that navius's
// options set, so that one function fills either kind.
type optionFields struct {
	username, password *string
	poolSize           *int
	dial, read, write  *time.Duration
}

func applySettings(o *optionFields, maxConns int, timeout time.Duration, s providers.Settings) {
	if v := s.String("redis.username"); v != "" {
		*o.username = v
	}
	if v := s.String("redis.password"); v != "" {
		*o.password = v
	}
	if maxConns > 0 {
		*o.poolSize = maxConns
	}
	for _, d := range []struct {
		dst *time.Duration
		key string
	}{{o.dial, "redis.dial_timeout"}, {o.read, "redis.read_timeout"}, {o.write, "redis.write_timeout"}} {
		if v := s.Duration(d.key); v > 0 {
			*d.dst = v
		}
	}
	if *o.dial == 0 {
		*o.dial = 5 * time.Second // go-redis's default
	}
	if timeout > 0 && *o.dial > timeout {
		*o.dial = timeout
	}
}

// tlsDialer opens TLS connections verified against the dialed host's name,
// unless cfg names a server.
func tlsDialer(cfg *tls.Config, dialTimeout time.Duration) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c := cfg.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout, KeepAlive: 5 * time.Minute}, Config: c}
		return d.DialContext(ctx, network, addr)
	}
}

// close closes the client and, for Sentinel, the sentinel clients.
func (c *conn) close() error {
	c.closeSentinels()
	return c.client.Close()
}

func (c *conn) closeSentinels() {
	for _, s := range c.sentinels {
		_ = s.Close()
	}
}

// redactErr keeps a URL's password out of a parse error.
func redactErr(err error, rawURL string) string {
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// mapErr turns go-redis errors into the providers' error kinds; context
// errors stay as they are.
func mapErr(service string, err error) error {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, goredis.Nil):
		return providers.ErrNotFound
	case errors.Is(err, goredis.ErrClosed):
		return providers.ErrClosed
	}
	return providers.Unavailable(service, err)
}

type quietLog struct{}

func (quietLog) Printf(context.Context, string, ...any) {}

// SilenceClientLog stops go-redis from printing on the standard logger (its
// pool reports dial failures there). The same failures reach navius as
// returned errors, which its own log and health report carry; the gate file
// calls this once.
func SilenceClientLog() { goredis.SetLogger(quietLog{}) }

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
