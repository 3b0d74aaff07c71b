package redis

import (
	"net"
	"net/url"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// CheckDatabase is the database provider's check: the URL's form for its
// topology, the redis.* options and their conflicts with it (a database
// number or a braced key prefix in a cluster), and the TLS files, without
// connecting.
func CheckDatabase(cfg providers.DatabaseConfig) error {
	return check(cfg.URL, cfg.TLS, cfg.Settings)
}

// CheckCache is the cache provider's check, as for the database.
func CheckCache(cfg providers.CacheConfig) error {
	return check(cfg.URL, cfg.TLS, cfg.Settings)
}

// check is what connect refuses before it dials anything; connect runs it
// first.
func check(rawURL string, tlsCfg providers.TLSConfig, s providers.Settings) error {
	m, useTLS, ok := modeOf(rawURL)
	if !ok {
		return providers.Invalid("bad Redis URL %q: use %s, %s or %s", redact(rawURL), usage[single], usage[sentinel], usage[cluster])
	}
	if n := s.Int("redis.min_replicas"); n < 0 {
		return providers.Invalid("redis.min_replicas is %d: use 0 (acknowledge once the master has a write) or the number of replicas that must have it", n)
	}
	host := ""
	if m == single {
		opts, err := singleOptions(rawURL)
		if err != nil {
			return err
		}
		useTLS = useTLS || opts.TLSConfig != nil
		host, _, _ = net.SplitHostPort(opts.Addr)
	} else if _, err := parseHosts(rawURL); err != nil {
		return err
	}
	if m == cluster {
		if db := s.Int("redis.db"); db > 0 {
			return providers.Invalid("redis.db is %d, but Redis Cluster has database 0 only: unset redis.db (or set it to -1)", db)
		}
		if prefix := s.String("redis.key_prefix"); strings.ContainsAny(prefix, "{}") {
			return providers.Invalid("redis.key_prefix %q holds a brace: in a cluster, navius's keys carry their own {hash tag} to spread a collection over the masters; choose a prefix without { or }", prefix)
		}
	}
	if useTLS || tlsCfg.Enabled {
		if _, err := tlsCfg.Config("redis", host); err != nil {
			return err
		}
	}
	return nil
}

// singleOptions parses a one-node URL with go-redis's own parser.
func singleOptions(rawURL string) (*goredis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, providers.Invalid("bad Redis URL %q: use %s", redact(rawURL), usage[single])
	}
	if !strings.HasPrefix(u.Host, "[") && strings.Count(u.Host, ":") > 1 {
		// go-redis would take it all for an address ("::1:6379" as
		// [::1:6379]:6379): say which was meant.
		return nil, providers.Invalid("bad Redis URL %q: host %q: write an IPv6 address in brackets, e.g. redis://[::1]:6379", redact(rawURL), u.Host)
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, providers.Invalid("bad Redis URL %q: %v", redact(rawURL), redactErr(err, rawURL))
	}
	return opts, nil
}
