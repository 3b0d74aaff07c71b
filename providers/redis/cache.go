package redis

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// Cache keeps entries as "<prefix>:cache:<key>" strings with per-entry
// expiry (SET PX); Clear removes only keys under that prefix.
type Cache struct {
	*conn
	defaultTTL time.Duration
	hits       atomic.Uint64
	misses     atomic.Uint64
}

// maxCounted bounds the SCAN behind Stats: beyond it, Entries is a lower
// bound.
const maxCounted = 100_000

// OpenCache is the registry's opener for the redis URL schemes. In a
// cluster, entries spread over the masters by their own keys' slots.
func OpenCache(ctx context.Context, cfg providers.CacheConfig) (providers.Cache, error) {
	c, err := connect(ctx, cfg.URL, 0, cfg.TLS, cfg.Timeout, cfg.Settings)
	if err != nil {
		return nil, err
	}
	return &Cache{conn: c, defaultTTL: cfg.DefaultTTL}, nil
}

func (c *Cache) key(k string) string { return c.prefix + ":cache:" + k }

func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := c.client.Get(ctx, c.key(key)).Bytes()
	switch err = mapErr("cache", err); {
	case err == nil:
		c.hits.Add(1)
		return v, true, nil
	case err == providers.ErrNotFound:
		c.misses.Add(1)
		return nil, false, nil
	}
	return nil, false, err
}

func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	if value == nil {
		value = []byte{}
	}
	return mapErr("cache", c.client.Set(ctx, c.key(key), value, ttl).Err())
}

func (c *Cache) Delete(ctx context.Context, key string) error {
	return mapErr("cache", c.client.Del(ctx, c.key(key)).Err())
}

// Clear walks navius's cache keys with SCAN on every master and unlinks
// them in batches; other keys in the same Redis database are left alone.
func (c *Cache) Clear(ctx context.Context) error {
	_, err := c.scan(ctx, -1, func(ctx context.Context, m *goredis.Client, keys []string) error {
		if c.mode != cluster {
			return m.Unlink(ctx, keys...).Err()
		}
		// One node holds many slots, and a command's keys must share one.
		_, err := m.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		return err
	})
	return mapErr("cache", err)
}

// scan calls fn with each batch of navius's cache keys on every master and
// returns how many there were, stopping once it has seen max (< 0: no
// bound).
func (c *Cache) scan(ctx context.Context, max int64, fn func(context.Context, *goredis.Client, []string) error) (int64, error) {
	var n atomic.Int64
	err := c.forEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		var cursor uint64
		for {
			keys, next, err := m.Scan(ctx, cursor, globEscape(c.prefix+":cache:")+"*", 1000).Result()
			if err != nil {
				return err
			}
			seen := n.Add(int64(len(keys)))
			if len(keys) > 0 && fn != nil {
				if err := fn(ctx, m, keys); err != nil {
					return err
				}
			}
			if next == 0 || max >= 0 && seen >= max {
				return nil
			}
			cursor = next
		}
	})
	return n.Load(), err
}

// Stats counts navius's cache keys with SCAN (up to maxCounted); sizes in
// bytes are not tracked (Bytes is -1) and the capacity is Redis's own (0).
func (c *Cache) Stats(ctx context.Context) (providers.CacheStats, error) {
	n, err := c.scan(ctx, maxCounted, nil)
	if err != nil {
		return providers.CacheStats{}, mapErr("cache", err)
	}
	return providers.CacheStats{Entries: n, Bytes: -1, Hits: c.hits.Load(), Misses: c.misses.Load()}, nil
}

// HealthIndicators implements providers.HealthContributor: with Sentinel or
// a cluster, "redis_cache_sentinel" or "redis_cache_cluster" reports the
// topology (not critical: a failing cache falls through to the database).
func (c *Cache) HealthIndicators() []providers.HealthIndicator {
	return c.topologyIndicator("redis_cache")
}

func (c *Cache) Close() error { return mapErr("cache", c.close()) }

// globEscape quotes the characters that SCAN's MATCH pattern treats
// specially, so that a key prefix such as "app[1]" matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
