package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/navius-dev/navius/providers"
)

// DefaultCapacity is the cache capacity when none is configured.
const DefaultCapacity = 64 << 20

// assumedEntrySize sizes ristretto's admission counters, which it wants at
// about ten per entry the cache holds when full. Sizing for 2 KiB entries
// keeps the default 64 MiB cache's count-min sketch at 1 MiB instead of
// 4 MiB (allocated and zeroed at startup); caches of smaller entries get
// coarser, still working, admission estimates.
const assumedEntrySize = 2048

// Cache is an in-process cache on ristretto: cost-based capacity in bytes
// (key plus value), TinyLFU admission, per-entry TTL.
type Cache struct {
	rc         *ristretto.Cache[string, []byte]
	capacity   int64
	defaultTTL time.Duration
	hits       atomic.Uint64
	misses     atomic.Uint64

	// mu is held shared by every call and exclusively by Close and Clear:
	// ristretto's Close closes the channel its Set and Del send on (a call
	// in flight would panic or wait forever), and its Clear assumes no
	// other call meanwhile.
	mu     sync.RWMutex
	closed bool
}

// enter admits a call: it fails with the context's error when ctx is done
// and with ErrClosed after Close; otherwise the caller holds mu shared and
// releases it with c.mu.RUnlock.
func (c *Cache) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return providers.ErrClosed
	}
	return nil
}

// NewCache returns a cache holding up to capacity bytes; defaultTTL applies
// to entries set without a TTL (0: no expiry).
func NewCache(capacity int64, defaultTTL time.Duration) (*Cache, error) {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	rc, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: max(1000, 10*capacity/assumedEntrySize),
		MaxCost:     capacity,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Cache{rc: rc, capacity: capacity, defaultTTL: defaultTTL}, nil
}

// OpenCache is the registry's opener for memory:// cache URLs.
func OpenCache(_ context.Context, cfg providers.CacheConfig) (providers.Cache, error) {
	if err := CheckCache(cfg); err != nil {
		return nil, err
	}
	return NewCache(cfg.Capacity, cfg.DefaultTTL)
}

func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := c.enter(ctx); err != nil {
		return nil, false, err
	}
	defer c.mu.RUnlock()
	v, ok := c.rc.Get(key)
	if ok {
		c.hits.Add(1)
		return v, true, nil
	}
	c.misses.Add(1)
	return nil, false, nil
}

// Set copies value (callers may reuse their buffer) and waits until the entry
// is visible, so that a Get right after Set hits.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	defer c.mu.RUnlock()
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	if c.rc.SetWithTTL(key, v, int64(len(key)+len(v)), ttl) {
		c.rc.Wait()
	}
	return nil
}

func (c *Cache) Delete(ctx context.Context, key string) error {
	if err := c.enter(ctx); err != nil {
		return err
	}
	defer c.mu.RUnlock()
	c.rc.Del(key)
	return nil
}

func (c *Cache) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return providers.ErrClosed
	}
	c.rc.Clear()
	return nil
}

func (c *Cache) Stats(ctx context.Context) (providers.CacheStats, error) {
	if err := c.enter(ctx); err != nil {
		return providers.CacheStats{}, err
	}
	defer c.mu.RUnlock()
	var n int64
	c.rc.IterValues(func([]byte) bool { n++; return false })
	return providers.CacheStats{
		Entries:  n,
		Bytes:    c.capacity - c.rc.RemainingCost(),
		Capacity: c.capacity,
		Hits:     c.hits.Load(),
		Misses:   c.misses.Load(),
	}, nil
}

// Close waits for the calls in flight; later calls fail with ErrClosed.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.rc.Close()
	return nil
}
