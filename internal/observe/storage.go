package observe

import (
	"context"
	"errors"
	"time"

	"github.com/navius-dev/navius/providers"
)

// storageMetrics are one service's (database or cache) operation metrics.
type storageMetrics struct {
	service  string
	duration *Histogram
	errors   *Counter
}

func (s *Service) storageInstruments(service string) storageMetrics {
	labels := []string{"operation", "provider"}
	return storageMetrics{
		service: service,
		duration: s.NewHistogram(providers.Metric{Name: service + "_operation_duration", Unit: "seconds", Labels: labels, Buckets: StorageBuckets,
			Help: "Time " + service + " operations take, by operation and provider."}),
		errors: s.NewCounter(providers.Metric{Name: service + "_operation_errors", Labels: labels,
			Help: "Failed " + service + " operations (a missing key or a failed precondition is not a failure), by operation and provider."}),
	}
}

// opMetrics are one operation's series and span name, resolved when the
// decorator is made rather than on every call.
type opMetrics struct {
	name, provider, span string
	duration             *HistogramSeries
	errors               *CounterSeries
}

func (m storageMetrics) op(name, provider string) *opMetrics {
	return &opMetrics{name: name, provider: provider, span: m.service + "." + name,
		duration: m.duration.With(name, provider), errors: m.errors.With(name, provider)}
}

// op is one instrumented call in progress.
type op struct {
	m     *opMetrics
	start time.Time
	span  *Span
}

func (s *Service) begin(ctx context.Context, m *opMetrics, collection string) (context.Context, op) {
	o := op{m: m, start: time.Now()}
	if s.Tracing() {
		attrs := []providers.Attr{providers.StringAttr("db.system", m.provider), providers.StringAttr("db.operation.name", m.name)}
		if collection != "" {
			attrs = append(attrs, providers.StringAttr("db.collection.name", collection))
		}
		ctx, o.span = s.StartChild(ctx, m.span, providers.SpanKindClient, attrs...)
	}
	return ctx, o
}

func (o op) end(err error) {
	o.m.duration.Observe(time.Since(o.start).Seconds())
	if err != nil && !errors.Is(err, providers.ErrNotFound) && !errors.Is(err, providers.ErrPrecondition) {
		o.m.errors.Add(1)
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
	m := s.storageInstruments("database")
	return &database{next: db, s: s, caps: providers.CapabilitiesOf(db), get: m.op("get", provider), set: m.op("set", provider),
		delete: m.op("delete", provider), query: m.op("query", provider), ping: m.op("ping", provider),
		batch: m.op("batch", provider), sweep: m.op("sweep", provider)}
}

// database has every capability's methods; Capabilities tells which of
// them the provider has (the others fail with ErrUnsupported).
type database struct {
	next                                        providers.Database
	s                                           *Service
	caps                                        providers.Capabilities
	get, set, delete, query, ping, batch, sweep *opMetrics
}

// Capabilities implements providers.CapabilityReporter.
func (d *database) Capabilities() providers.Capabilities { return d.caps }

// Unwrap returns the wrapped provider.
func (d *database) Unwrap() providers.Database { return d.next }

func (d *database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	ctx, o := d.s.begin(ctx, d.get, coll)
	v, err := d.next.Get(ctx, coll, key)
	o.end(err)
	return v, err
}

func (d *database) Set(ctx context.Context, coll, key string, value []byte) error {
	ctx, o := d.s.begin(ctx, d.set, coll)
	err := d.next.Set(ctx, coll, key, value)
	o.end(err)
	return err
}

func (d *database) Delete(ctx context.Context, coll, key string) (bool, error) {
	ctx, o := d.s.begin(ctx, d.delete, coll)
	existed, err := d.next.Delete(ctx, coll, key)
	o.end(err)
	return existed, err
}

func (d *database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	ctx, o := d.s.begin(ctx, d.query, coll)
	p, err := d.next.Query(ctx, coll, q)
	o.end(err)
	return p, err
}

func (d *database) Ping(ctx context.Context) error {
	ctx, o := d.s.begin(ctx, d.ping, "")
	err := d.next.Ping(ctx)
	o.end(err)
	return err
}

func (d *database) Close() error { return d.next.Close() }

func (d *database) GetEntry(ctx context.Context, coll, key string) (providers.Entry, error) {
	v, ok := d.next.(providers.Versioned)
	if !ok {
		return providers.Entry{}, providers.ErrUnsupported
	}
	ctx, o := d.s.begin(ctx, d.get, coll)
	e, err := v.GetEntry(ctx, coll, key)
	o.end(err)
	return e, err
}

func (d *database) Put(ctx context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	v, ok := d.next.(providers.Versioned)
	if !ok {
		return "", providers.ErrUnsupported
	}
	ctx, o := d.s.begin(ctx, d.set, coll)
	version, err := v.Put(ctx, coll, key, value, w)
	o.end(err)
	return version, err
}

func (d *database) Remove(ctx context.Context, coll, key string, cond providers.Condition) (bool, error) {
	v, ok := d.next.(providers.Versioned)
	if !ok {
		return false, providers.ErrUnsupported
	}
	ctx, o := d.s.begin(ctx, d.delete, coll)
	existed, err := v.Remove(ctx, coll, key, cond)
	o.end(err)
	return existed, err
}

func (d *database) Apply(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	b, ok := d.next.(providers.Batcher)
	if !ok {
		return nil, providers.ErrUnsupported
	}
	ctx, o := d.s.begin(ctx, d.batch, "")
	res, err := b.Apply(ctx, ops)
	o.end(err)
	return res, err
}

func (d *database) Sweep(ctx context.Context, limit int) (int, error) {
	e, ok := d.next.(providers.Expiring)
	if !ok {
		return 0, providers.ErrUnsupported
	}
	ctx, o := d.s.begin(ctx, d.sweep, "")
	n, err := e.Sweep(ctx, limit)
	o.end(err)
	return n, err
}

// SweepKeys forwards providers.ExpiryReporter; the store asks for it only
// when the provider has it.
func (d *database) SweepKeys(ctx context.Context, limit int, removed func(collection, key string)) (int, error) {
	e, ok := d.next.(providers.ExpiryReporter)
	if !ok {
		return 0, providers.ErrUnsupported
	}
	ctx, o := d.s.begin(ctx, d.sweep, "")
	n, err := e.SweepKeys(ctx, limit, removed)
	o.end(err)
	return n, err
}

// Cache wraps c so that every operation records its latency and errors, Get
// counts hits and misses (navius_cache_hits_total, ..._misses_total), and the
// cache's size is read at each collection. With no provider active, or a nil
// cache, it returns c.
func (s *Service) Cache(c providers.Cache, provider string) providers.Cache {
	if !s.Active() || c == nil {
		return c
	}
	labels := []string{"provider"}
	m := s.storageInstruments("cache")
	w := &cache{next: c, s: s, get: m.op("get", provider), set: m.op("set", provider), delete: m.op("delete", provider), clear: m.op("clear", provider),
		hits:   s.NewCounter(providers.Metric{Name: "cache_hits", Labels: labels, Help: "Cache lookups that found the key."}).With(provider),
		misses: s.NewCounter(providers.Metric{Name: "cache_misses", Labels: labels, Help: "Cache lookups that did not find the key."}).With(provider),
	}
	// The series exist from the first scrape, at zero, so that a rate over
	// them is defined before the first lookup.
	w.hits.Add(0)
	w.misses.Add(0)
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
	next                    providers.Cache
	s                       *Service
	get, set, delete, clear *opMetrics
	hits, misses            *CounterSeries
}

// Unwrap returns the wrapped provider.
func (c *cache) Unwrap() providers.Cache { return c.next }

func (c *cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, o := c.s.begin(ctx, c.get, "")
	v, ok, err := c.next.Get(ctx, key)
	if err == nil {
		if ok {
			c.hits.Add(1)
		} else {
			c.misses.Add(1)
		}
		o.span.SetAttributes(providers.BoolAttr("cache.hit", ok))
	}
	o.end(err)
	return v, ok, err
}

func (c *cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	ctx, o := c.s.begin(ctx, c.set, "")
	err := c.next.Set(ctx, key, value, ttl)
	o.end(err)
	return err
}

func (c *cache) Delete(ctx context.Context, key string) error {
	ctx, o := c.s.begin(ctx, c.delete, "")
	err := c.next.Delete(ctx, key)
	o.end(err)
	return err
}

func (c *cache) Clear(ctx context.Context) error {
	ctx, o := c.s.begin(ctx, c.clear, "")
	err := c.next.Clear(ctx)
	o.end(err)
	return err
}

func (c *cache) Stats(ctx context.Context) (providers.CacheStats, error) { return c.next.Stats(ctx) }

func (c *cache) Close() error { return c.next.Close() }
