package redis

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

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

// OpenCache is the registry's opener for redis:// and rediss:// cache URLs.
func OpenCache(ctx context.Context, cfg providers.CacheConfig) (providers.Cache, error) {
	c, err := connect(cfg.URL, 0, cfg.TLS, cfg.Timeout, cfg.Settings)
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

// Clear walks navius's cache keys with SCAN and unlinks them in batches;
// other keys in the same Redis database are left alone.
func (c *Cache) Clear(ctx context.Context) error {
	_, err := c.scan(ctx, -1, func(keys []string) error {
		return c.client.Unlink(ctx, keys...).Err()
	})
	return mapErr("cache", err)
}

// scan calls fn with each batch of navius's cache keys and returns how many
// there were, stopping once it has seen max (< 0: no bound).
func (c *Cache) scan(ctx context.Context, max int64, fn func([]string) error) (int64, error) {
	var n int64
	var cursor uint64
	for {
		keys, next, err := c.client.Scan(ctx, cursor, globEscape(c.prefix+":cache:")+"*", 1000).Result()
		if err != nil {
			return n, err
		}
		n += int64(len(keys))
		if len(keys) > 0 && fn != nil {
			if err := fn(keys); err != nil {
				return n, err
			}
		}
		if next == 0 || max >= 0 && n >= max {
			return n, nil
		}
		cursor = next
	}
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

func (c *Cache) Close() error { return mapErr("cache", c.client.Close()) }

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
