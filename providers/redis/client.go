// Package redis provides a database and a cache on Redis (go-redis v9):
// redis:// and rediss:// URLs, collections as hashes walked with HSCAN,
// cache entries with per-entry TTLs under navius's own key prefix, and a
// change feed over Redis pub/sub so that instances sharing one Redis drop
// their local cache entries when another instance writes.
package redis

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// Options are the redis feature's config options; they apply to both the
// database and the cache when either uses Redis.
var Options = []providers.Option{
	{Key: "redis.username", Type: providers.String, Description: "ACL user name; overrides the user in the URL."},
	{Key: "redis.password", Type: providers.String, Secret: true, Description: "Password (AUTH); overrides the one in the URL. Prefer NAVIUS_REDIS_PASSWORD to a URL or file."},
	{Key: "redis.db", Type: providers.Int, Default: "-1", Description: "Database number; -1 takes it from the URL path (redis://host:6379/2), else 0."},
	{Key: "redis.dial_timeout", Type: providers.Duration, Default: "2s", Description: "Time to open a connection."},
	{Key: "redis.read_timeout", Type: providers.Duration, Default: "2s", Description: "Time to wait for a reply."},
	{Key: "redis.write_timeout", Type: providers.Duration, Default: "2s", Description: "Time to send a command."},
	{Key: "redis.key_prefix", Type: providers.String, Default: "navius", Description: "Prefix of every key navius writes (database hashes, cache entries, the change channel), so that several applications can share one Redis."},
	{Key: "redis.fallback_ttl", Type: providers.Duration, Default: "1s", Description: "While the change subscription is down, local cache entries in front of a Redis database live at most this long, since other instances' writes may be missed."},
}

// conn is what both providers need: a client and the key prefix.
type conn struct {
	client *goredis.Client
	prefix string
	addr   string
}

// connect builds a client from a redis:// or rediss:// URL and the settings.
func connect(rawURL string, maxConns int, tlsCfg providers.TLSConfig, timeout time.Duration, s providers.Settings) (*conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, providers.Invalid("bad Redis URL %q: use redis://[user:password@]host:6379/0 or rediss:// for TLS", providers.Redact(rawURL))
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, providers.Invalid("bad Redis URL %q: %v", providers.Redact(rawURL), redactErr(err, rawURL))
	}
	if v := s.String("redis.username"); v != "" {
		opts.Username = v
	}
	if v := s.String("redis.password"); v != "" {
		opts.Password = v
	}
	if db := s.Int("redis.db"); s.String("redis.db") != "" && db >= 0 {
		opts.DB = db
	}
	if maxConns > 0 {
		opts.PoolSize = maxConns
	}
	for _, d := range []struct {
		dst *time.Duration
		key string
	}{{&opts.DialTimeout, "redis.dial_timeout"}, {&opts.ReadTimeout, "redis.read_timeout"}, {&opts.WriteTimeout, "redis.write_timeout"}} {
		if v := s.Duration(d.key); v > 0 {
			*d.dst = v
		}
	}
	if timeout > 0 && opts.DialTimeout > timeout {
		opts.DialTimeout = timeout
	}
	// One quick retry: a request fails fast while Redis is down rather
	// than piling up behind backoff.
	opts.MaxRetries = 1
	// Deadlines of the request (database.timeout, a client that went away)
	// bound each command too, so that no request outlives its caller.
	opts.ContextTimeoutEnabled = true
	opts.MinRetryBackoff, opts.MaxRetryBackoff = 8*time.Millisecond, 64*time.Millisecond
	opts.DialerRetries, opts.DialerRetryTimeout = 1, 50*time.Millisecond
	if opts.TLSConfig != nil || tlsCfg.Enabled {
		host, _, _ := net.SplitHostPort(opts.Addr)
		c, err := tlsCfg.Config("redis", host)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = c
	}
	prefix := s.String("redis.key_prefix")
	if prefix == "" {
		prefix = "navius"
	}
	return &conn{client: goredis.NewClient(opts), prefix: prefix, addr: opts.Addr}, nil
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
