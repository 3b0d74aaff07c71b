package observe

import (
	"context"
	"errors"
	"time"

	"github.com/navius-dev/navius/providers"
)

// storageMetrics are one service's (database or cache) operation metrics.
type storageMetrics struct {
	duration *Histogram
	errors   *Counter
}

func (s *Service) storageInstruments(service string) storageMetrics {
	labels := []string{"operation", "provider"}
	return storageMetrics{
		duration: s.NewHistogram(providers.Metric{Name: service + "_operation_duration", Unit: "seconds", Labels: labels, Buckets: StorageBuckets,
			Help: "Time " + service + " operations take, by operation and provider."}),
		errors: s.NewCounter(providers.Metric{Name: service + "_operation_errors", Labels: labels,
			Help: "Failed " + service + " operations (a missing key is not a failure), by operation and provider."}),
	}
}

// op is one instrumented call in progress.
type op struct {
	name  string
	start time.Time
	span  *Span
}

func (s *Service) begin(ctx context.Context, service, operation, provider, collection string) (context.Context, op) {
	o := op{name: operation, start: time.Now()}
	if s.Tracing() {
		attrs := []providers.Attr{providers.StringAttr("db.system", provider), providers.StringAttr("db.operation.name", operation)}
		if collection != "" {
			attrs = append(attrs, providers.StringAttr("db.collection.name", collection))
		}
		ctx, o.span = s.StartChild(ctx, service+"."+operation, providers.SpanKindClient, attrs...)
	}
	return ctx, o
}

func (m storageMetrics) end(o op, provider string, err error) {
	m.duration.Observe(time.Since(o.start).Seconds(), o.name, provider)
	if err != nil && !errors.Is(err, providers.ErrNotFound) {
		m.errors.Add(1, o.name, provider)
		o.span.RecordError(err)
	}
	o.span.End()
}

// Database wraps db so that every operation records its latency and errors
// (navius_database_operation_duration_seconds, ..._errors_total) and, inside
// a traced request, a client span; a provider with a connection pool also
// gets its pool figures published. With no provider active it returns db.
func (s *Service) Database(db providers.Database, provider string) providers.Database {
	if !s.Active() || db == nil {
		return db
	}
	s.poolMetrics(db, provider)
	return &database{next: db, s: s, provider: provider, m: s.storageInstruments("database")}
}

type database struct {
	next     providers.Database
	s        *Service
	provider string
	m        storageMetrics
}

// Unwrap returns the wrapped provider.
func (d *database) Unwrap() providers.Database { return d.next }

func (d *database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	ctx, o := d.s.begin(ctx, "database", "get", d.provider, coll)
	v, err := d.next.Get(ctx, coll, key)
	d.m.end(o, d.provider, err)
	return v, err
}

func (d *database) Set(ctx context.Context, coll, key string, value []byte) error {
	ctx, o := d.s.begin(ctx, "database", "set", d.provider, coll)
	err := d.next.Set(ctx, coll, key, value)
	d.m.end(o, d.provider, err)
	return err
}

func (d *database) Delete(ctx context.Context, coll, key string) (bool, error) {
	ctx, o := d.s.begin(ctx, "database", "delete", d.provider, coll)
	existed, err := d.next.Delete(ctx, coll, key)
	d.m.end(o, d.provider, err)
	return existed, err
}

func (d *database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	ctx, o := d.s.begin(ctx, "database", "query", d.provider, coll)
	p, err := d.next.Query(ctx, coll, q)
	d.m.end(o, d.provider, err)
	return p, err
}

func (d *database) Ping(ctx context.Context) error {
	ctx, o := d.s.begin(ctx, "database", "ping", d.provider, "")
	err := d.next.Ping(ctx)
	d.m.end(o, d.provider, err)
	return err
}

func (d *database) Close() error { return d.next.Close() }

// Cache wraps c so that every operation records its latency and errors, Get
// counts hits and misses (navius_cache_hits_total, ..._misses_total), and the
// cache's size is read at each collection. With no provider active, or a nil
// cache, it returns c.
func (s *Service) Cache(c providers.Cache, provider string) providers.Cache {
	if !s.Active() || c == nil {
		return c
	}
	labels := []string{"provider"}
	w := &cache{next: c, s: s, provider: provider, m: s.storageInstruments("cache"),
		hits:   s.NewCounter(providers.Metric{Name: "cache_hits", Labels: labels, Help: "Cache lookups that found the key."}),
		misses: s.NewCounter(providers.Metric{Name: "cache_misses", Labels: labels, Help: "Cache lookups that did not find the key."}),
	}
	// The series exist from the first scrape, at zero, so that a rate over
	// them is defined before the first lookup.
	w.hits.Add(0, provider)
	w.misses.Add(0, provider)
	entries := s.NewGauge(providers.Metric{Name: "cache_entries", Labels: labels, Help: "Entries in the cache (approximate where the backend estimates)."})
	size := s.NewGauge(providers.Metric{Name: "cache_size", Unit: "bytes", Labels: labels, Help: "Bytes of keys plus values held by the cache."})
	capacity := s.NewGauge(providers.Metric{Name: "cache_capacity", Unit: "bytes", Labels: labels, Help: "Configured cache capacity; 0 when unbounded."})
	s.OnCollect(func(ctx context.Context) {
		st, err := c.Stats(ctx)
		if err != nil {
			return
		}
		entries.Set(float64(st.Entries), provider)
		if st.Bytes >= 0 {
			size.Set(float64(st.Bytes), provider)
		}
		capacity.Set(float64(st.Capacity), provider)
	})
	return w
}

type cache struct {
	next         providers.Cache
	s            *Service
	provider     string
	m            storageMetrics
	hits, misses *Counter
}

// Unwrap returns the wrapped provider.
func (c *cache) Unwrap() providers.Cache { return c.next }

func (c *cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, o := c.s.begin(ctx, "cache", "get", c.provider, "")
	v, ok, err := c.next.Get(ctx, key)
	if err == nil {
		if ok {
			c.hits.Add(1, c.provider)
		} else {
			c.misses.Add(1, c.provider)
		}
		o.span.SetAttributes(providers.BoolAttr("cache.hit", ok))
	}
	c.m.end(o, c.provider, err)
	return v, ok, err
}

func (c *cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, o := c.s.begin(ctx, "cache", "set", c.provider, "")
	err := c.next.Set(ctx, key, value, ttl)
	c.m.end(o, c.provider, err)
	return err
}

func (c *cache) Delete(ctx context.Context, key string) error {
	ctx, o := c.s.begin(ctx, "cache", "delete", c.provider, "")
	err := c.next.Delete(ctx, key)
	c.m.end(o, c.provider, err)
	return err
}

func (c *cache) Clear(ctx context.Context) error {
	ctx, o := c.s.begin(ctx, "cache", "clear", c.provider, "")
	err := c.next.Clear(ctx)
	c.m.end(o, c.provider, err)
	return err
}

func (c *cache) Stats(ctx context.Context) (providers.CacheStats, error) { return c.next.Stats(ctx) }

func (c *cache) Close() error { return c.next.Close() }
