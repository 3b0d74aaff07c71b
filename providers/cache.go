package providers

import (
	"context"
	"time"
)

// Cache is the contract every cache provider implements. A cache may drop
// any entry at any time (capacity, TTL); it never returns a value that was
// not set under that key. All methods are safe for concurrent use.
type Cache interface {
	// Get returns the value and true on a hit.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl (0: the configured default TTL; no
	// default means no expiry). After Set returns, Get sees the value unless
	// the cache declined it for capacity.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Clear removes every entry this cache owns (and only those).
	Clear(ctx context.Context) error
	// Stats reports size and hit counters.
	Stats(ctx context.Context) (CacheStats, error)
	// Close releases the cache.
	Close() error
}

// CacheStats describes a cache's contents and effectiveness.
type CacheStats struct {
	// Entries is the number of live entries (approximate where the backend
	// only estimates it).
	Entries int64 `json:"entries"`
	// Bytes is the capacity used, in bytes; -1 when unknown.
	Bytes int64 `json:"bytes"`
	// Capacity is the configured capacity in bytes; 0 when unbounded.
	Capacity int64  `json:"capacity"`
	Hits     uint64 `json:"hits"`
	Misses   uint64 `json:"misses"`
}

// HitRatio is hits / (hits + misses), or 0 before any lookup.
func (s CacheStats) HitRatio() float64 {
	if total := s.Hits + s.Misses; total > 0 {
		return float64(s.Hits) / float64(total)
	}
	return 0
}

// CacheConfig configures a cache provider.
type CacheConfig struct {
	Provider string
	// URL locates the cache, e.g. "memory://".
	URL string
	// Capacity bounds the cache in bytes (values plus keys).
	Capacity int64
	// DefaultTTL applies when Set is given no TTL; 0 means no expiry.
	DefaultTTL time.Duration
	// Timeout bounds each operation of a networked cache.
	Timeout  time.Duration
	TLS      TLSConfig
	Settings Settings
}

// Caches is the cache provider registry.
var Caches = NewRegistry[CacheConfig, Cache]("cache")

// RegisterCache registers a cache provider under name and URL schemes, with
// its check (see RegisterDatabase).
func RegisterCache(name string, schemes []string, open func(context.Context, CacheConfig) (Cache, error), check ...func(CacheConfig) error) {
	Caches.Register(name, schemes, open, check...)
}

// CheckCache runs the check of the provider that cfg names or whose URL
// scheme it uses, opening nothing, and returns the provider's name.
func CheckCache(cfg CacheConfig) (string, error) {
	return Caches.Check(cfg.Provider, cfg.URL, cfg)
}

// OpenCache opens the provider that cfg names or whose URL scheme it uses,
// after its check.
func OpenCache(ctx context.Context, cfg CacheConfig) (Cache, string, error) {
	return Caches.Open(ctx, cfg.Provider, cfg.URL, cfg)
}
