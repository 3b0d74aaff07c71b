// Package store is the generic database service: it wraps whichever database
// provider the config picked with a read-through cache, per-operation
// timeouts and error wrapping.
//
// Consistency: a write or delete goes to the database first and then
// invalidates the cache entry, and a cache fill after a read is skipped when
// a write to the same key stripe happened while the read was in flight. So
// after a successful write, this instance never serves the old value. When
// the database is shared by several instances and offers a change feed,
// other instances' writes invalidate entries the same way, and while the
// feed is down entries are cached only for its short fallback TTL.
//
// Versions: the cache keeps each entry's version (ETag) and expiry time with
// its value, so a hit answers the database's ETag, and an entry past its
// expiry is a miss. A conditional write is decided by the database alone;
// a failed condition drops the cached entry too, since the database has just
// said it is not the current one. Capabilities the provider lacks
// (providers.Versioned, Expiring, Batcher) fail with ErrUnsupported before
// anything is written.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/providers"
)

// stripes bounds the invalidation bookkeeping: writes bump the version of the
// key's stripe, never a per-key entry, so memory stays fixed.
const stripes = 1024

// Store is the database service.
type Store struct {
	db       providers.Database
	name     string // the provider's name, for messages
	caps     providers.Capabilities
	ver      providers.Versioned // nil unless caps.Conditional
	exp      providers.Expiring  // nil unless caps.Expiry
	batch    providers.Batcher   // nil unless caps.Batch
	cache    providers.Cache     // nil: no cache
	timeout  time.Duration
	cacheTTL time.Duration
	changes  providers.ChangeFeed // nil: this instance is the only writer
	wrote    func(error)          // told each write's outcome; nil: nobody
	seed     maphash.Seed
	stripe   [stripes]struct {
		sync.Mutex
		version uint64
	}

	sweeper providers.ExpiryReporter // nil unless the provider names what a sweep removes
	pub     Publisher                // nil: nobody watches
}

// Options configure a Store.
type Options struct {
	// Timeout bounds each database operation; 0 means none beyond the
	// caller's context.
	Timeout time.Duration
	// CacheTTL is passed to the cache on fill; 0 uses the cache's default.
	CacheTTL time.Duration
	// Changes, when set, reports writes made by other instances sharing the
	// database (the raw provider's providers.ChangeFeed).
	Changes providers.ChangeFeed
	// Provider names the database provider in errors ("database" when
	// empty).
	Provider string
	// Publish, when set, hears of every change made through the store
	// (the watch hub).
	Publish Publisher
	// Wrote, when set, is told the outcome of every write (Put, Delete,
	// Apply): nil or its error (health.Writes.Wrote).
	Wrote func(error)
}

// New wraps db with cache (which may be nil).
func New(db providers.Database, cache providers.Cache, opts Options) *Store {
	s := &Store{db: db, name: opts.Provider, caps: providers.CapabilitiesOf(db), cache: cache, timeout: opts.Timeout, cacheTTL: opts.CacheTTL, seed: maphash.MakeSeed(), pub: opts.Publish, wrote: opts.Wrote}
	if s.name == "" {
		s.name = "database"
	}
	// A wrapper (the metrics decorator) has every method; the capabilities
	// say which of them reach the provider.
	if s.caps.Conditional {
		s.ver, _ = db.(providers.Versioned)
	}
	if s.caps.Expiry {
		s.exp, _ = db.(providers.Expiring)
	}
	if s.caps.Batch {
		s.batch, _ = db.(providers.Batcher)
	}
	s.caps = providers.Capabilities{Conditional: s.ver != nil, Expiry: s.ver != nil && s.exp != nil, Batch: s.ver != nil && s.batch != nil}
	if s.caps.Expiry && reportsExpiry(db) {
		s.sweeper, _ = db.(providers.ExpiryReporter)
	}
	if cache != nil && opts.Changes != nil {
		s.changes = opts.Changes
		opts.Changes.Changes(s.remoteChange)
	}
	return s
}

// remoteChange drops what another instance changed; an empty collection
// means changes were missed, so everything goes, and reads in flight (which
// may have read a value changed in the gap) do not fill the cache.
func (s *Store) remoteChange(coll, key string) {
	ctx := context.Background()
	if coll == "" {
		for i := range s.stripe {
			st := &s.stripe[i]
			st.Lock()
			st.version++
			st.Unlock()
		}
		_ = s.cache.Clear(ctx)
		return
	}
	_ = s.invalidate(ctx, coll, key)
}

// fillTTL is the TTL of a cache fill: short while other instances' writes
// may go unnoticed.
func (s *Store) fillTTL() time.Duration {
	if s.changes != nil && !s.changes.Live() {
		if f := s.changes.FallbackTTL(); s.cacheTTL == 0 || f < s.cacheTTL {
			return f
		}
	}
	return s.cacheTTL
}

// Database returns the wrapped provider.
func (s *Store) Database() providers.Database { return s.db }

// Cache returns the cache, or nil.
func (s *Store) Cache() providers.Cache { return s.cache }

// cacheKey is the cache's key for an entry. The leading byte keeps these
// keys apart from the ones navius used before entries carried versions
// (collection NUL key), which a shared cache may still hold.
func cacheKey(coll, key string) string { return "\x01" + coll + "\x00" + key }

// A cached entry is entryFormat, the version's length and the version, the
// expiry time (Unix nanoseconds, 0 for none; 8 bytes, big-endian), then the
// value.
const entryFormat = 'E'

func encodeEntry(e providers.Entry) []byte {
	b := make([]byte, 0, 2+len(e.Version)+8+len(e.Value))
	b = append(b, entryFormat, byte(len(e.Version)))
	b = append(b, e.Version...)
	var exp int64
	if !e.ExpiresAt.IsZero() {
		exp = e.ExpiresAt.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	return append(b, e.Value...)
}

// decodeEntry reverses encodeEntry; ok is false for bytes it did not make
// and for an entry that has expired, which then count as a miss.
func decodeEntry(b []byte) (e providers.Entry, ok bool) {
	if len(b) < 10 || b[0] != entryFormat || len(b) < 10+int(b[1]) {
		return e, false
	}
	n := int(b[1])
	if n > 0 {
		e.Version = string(b[2 : 2+n])
	}
	if exp := int64(binary.BigEndian.Uint64(b[2+n:])); exp != 0 {
		e.ExpiresAt = time.Unix(0, exp)
		if !time.Now().Before(e.ExpiresAt) {
			return providers.Entry{}, false
		}
	}
	e.Value = b[10+n:]
	return e, true
}

func (s *Store) stripeOf(ck string) int { return int(maphash.String(s.seed, ck) % stripes) }

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return ctx, func() {}
}

// Capabilities are the optional capabilities of the database.
func (s *Store) Capabilities() providers.Capabilities { return s.caps }

// Get reads through the cache. A cache failure never fails a read: it falls
// through to the database. The entry's version (ETag) is the database's:
// the cache keeps it with the value.
func (s *Store) Get(ctx context.Context, coll, key string) (providers.Entry, error) {
	if s.cache == nil {
		ctx, cancel := s.withTimeout(ctx)
		defer cancel()
		return s.getDB(ctx, coll, key)
	}
	ck := cacheKey(coll, key)
	if b, ok, err := s.cache.Get(ctx, ck); err == nil && ok {
		if e, ok := decodeEntry(b); ok {
			return e, nil
		}
	}
	st := &s.stripe[s.stripeOf(ck)]
	st.Lock()
	version := st.version
	st.Unlock()

	dctx, cancel := s.withTimeout(ctx)
	e, err := s.getDB(dctx, coll, key)
	cancel()
	if err != nil {
		return providers.Entry{}, err
	}
	ttl := s.fillTTL()
	if !e.ExpiresAt.IsZero() {
		// Cached no longer than the entry lives (a hit checks it too).
		left := time.Until(e.ExpiresAt)
		if left <= 0 {
			return e, nil
		}
		if ttl == 0 || left < ttl {
			ttl = left
		}
	}
	st.Lock()
	if st.version == version { // no write raced this read
		_ = s.cache.Set(ctx, ck, encodeEntry(e), ttl)
	}
	st.Unlock()
	return e, nil
}

func (s *Store) getDB(ctx context.Context, coll, key string) (providers.Entry, error) {
	if s.ver != nil {
		return s.ver.GetEntry(ctx, coll, key)
	}
	v, err := s.db.Get(ctx, coll, key)
	return providers.Entry{Value: v}, err
}

// Set writes value unconditionally, without expiry.
func (s *Store) Set(ctx context.Context, coll, key string, value []byte) error {
	_, err := s.Put(ctx, coll, key, value, providers.Write{})
	return err
}

// Put writes to the database, which decides w's condition, then
// invalidates the cache entry; it returns the new version (empty from a
// provider without versions). A request for a capability the provider lacks
// fails with ErrUnsupported before anything is written. A failed condition
// drops the cache entry too: the database just said it is not current.
func (s *Store) Put(ctx context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	if err := s.need(!w.Condition.IsZero(), w.TTL > 0, false); err != nil {
		return "", err
	}
	published := s.publishing(coll, key)
	dctx, cancel := s.withTimeout(ctx)
	var version string
	var err error
	if s.ver != nil {
		version, err = s.ver.Put(dctx, coll, key, value, w)
	} else {
		err = s.db.Set(dctx, coll, key, value)
	}
	cancel()
	s.told(err)
	published(Change{Kind: outcome(err, Put), Version: version, Value: value})
	if err != nil && !errors.Is(err, providers.ErrPrecondition) {
		return "", err
	}
	if ierr := s.invalidate(ctx, coll, key); ierr != nil && err == nil {
		return version, ierr
	}
	return version, err
}

// Delete removes from the database when cond holds, then invalidates the
// cache entry.
func (s *Store) Delete(ctx context.Context, coll, key string, cond providers.Condition) (bool, error) {
	if err := s.need(!cond.IsZero(), false, false); err != nil {
		return false, err
	}
	published := s.publishing(coll, key)
	dctx, cancel := s.withTimeout(ctx)
	var existed bool
	var err error
	if s.ver != nil {
		existed, err = s.ver.Remove(dctx, coll, key, cond)
	} else {
		existed, err = s.db.Delete(dctx, coll, key)
	}
	cancel()
	s.told(err)
	kind := outcome(err, Deleted)
	if kind == Deleted && !existed {
		kind = Unchanged
	}
	published(Change{Kind: kind})
	if err != nil && !errors.Is(err, providers.ErrPrecondition) {
		return false, err
	}
	if ierr := s.invalidate(ctx, coll, key); ierr != nil && err == nil {
		return existed, ierr
	}
	return existed, err
}

// Apply applies a batch all or nothing (see providers.Batcher), then
// invalidates the cache entries of its keys.
func (s *Store) Apply(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	ttl := false
	for _, op := range ops {
		ttl = ttl || op.TTL > 0
	}
	if err := s.need(false, ttl, true); err != nil {
		return nil, err
	}
	var published func([]Change)
	var changes []Change
	if s.pub != nil {
		changes = make([]Change, len(ops))
		for i, op := range ops {
			changes[i] = Change{Collection: op.Collection, Key: op.Key}
		}
		published = s.pub.Begin(changes)
	}
	dctx, cancel := s.withTimeout(ctx)
	res, err := s.batch.Apply(dctx, ops)
	cancel()
	s.told(err)
	if published != nil {
		kind := outcome(err, Put)
		for i, op := range ops {
			c := &changes[i]
			switch {
			case kind != Put:
				c.Kind = kind
			case op.Delete && res[i].Existed:
				c.Kind = Deleted
			case op.Delete:
				c.Kind = Unchanged
			default:
				c.Kind, c.Version, c.Value = Put, res[i].Version, op.Value
			}
		}
		published(changes)
	}
	var pe *providers.PreconditionError
	switch {
	case errors.As(err, &pe) && pe.Op >= 0 && pe.Op < len(ops):
		_ = s.invalidate(ctx, ops[pe.Op].Collection, ops[pe.Op].Key)
		return nil, err
	case err != nil:
		return nil, err
	}
	var ierr error
	for _, op := range ops {
		if e := s.invalidate(ctx, op.Collection, op.Key); e != nil && ierr == nil {
			ierr = e
		}
	}
	return res, ierr
}

// told passes a write's outcome to Options.Wrote.
func (s *Store) told(err error) {
	if s.wrote != nil {
		s.wrote(err)
	}
}

// need fails with ErrUnsupported when a request needs a capability the
// database lacks.
func (s *Store) need(conditional, expiry, batch bool) error {
	switch {
	case conditional && !s.caps.Conditional:
		return providers.Unsupported(s.name, providers.CapConditional)
	case expiry && !s.caps.Expiry:
		return providers.Unsupported(s.name, providers.CapExpiry)
	case batch && !s.caps.Batch:
		return providers.Unsupported(s.name, providers.CapBatch)
	}
	return nil
}

// sweepLimit bounds one Sweep call; a pass calls it again while it
// removes that many, up to sweepCalls times.
const (
	sweepLimit = 1000
	sweepCalls = 10
)

// RunSweeper reclaims expired entries every interval until ctx ends, when
// the database expires entries; the returned channel closes when it has
// stopped. A failing sweep is logged once, and its recovery once.
func (s *Store) RunSweeper(ctx context.Context, interval time.Duration, log logrus.FieldLogger) <-chan struct{} {
	done := make(chan struct{})
	if s.exp == nil || interval <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var err error
			for range sweepCalls {
				var n int
				if n, err = s.Sweep(ctx, sweepLimit); err != nil || n < sweepLimit {
					break
				}
			}
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				failing = true
				log.WithError(err).Warn("reclaiming expired entries failed; they stay invisible to readers, and the sweep is retried every database.sweep_interval")
			case err == nil && failing:
				failing = false
				log.Info("reclaiming expired entries works again")
			}
		}
	}()
	return done
}

// Sweep reclaims expired entries, up to limit, when the database expires
// entries; see providers.Expiring.
//
// A Publisher hears of each entry removed when the provider names them
// (providers.ExpiryReporter), else of how many were removed.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if s.exp == nil {
		return 0, nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	if s.pub == nil {
		return s.exp.Sweep(ctx, limit)
	}
	published := s.pub.BeginSweep()
	if s.sweeper == nil {
		n, err := s.exp.Sweep(ctx, limit)
		published(nil, n)
		return n, err
	}
	var expired []Change
	n, err := s.sweeper.SweepKeys(ctx, limit, func(coll, key string) {
		expired = append(expired, Change{Kind: Expired, Collection: coll, Key: key})
	})
	published(expired, max(n-len(expired), 0))
	return n, err
}

// reportsExpiry tells whether the provider under db's wrappers names the
// entries a sweep removes.
func reportsExpiry(db providers.Database) bool {
	for {
		u, ok := db.(interface{ Unwrap() providers.Database })
		if !ok {
			_, ok = db.(providers.ExpiryReporter)
			return ok
		}
		db = u.Unwrap()
	}
}

// invalidate drops a key from the cache and bumps its stripe so that a read
// in flight does not put the old value back.
func (s *Store) invalidate(ctx context.Context, coll, key string) error {
	if s.cache == nil {
		return nil
	}
	ck := cacheKey(coll, key)
	st := &s.stripe[s.stripeOf(ck)]
	st.Lock()
	defer st.Unlock()
	st.version++
	// The write is done: a client that goes away now must not leave the
	// old value cached (the cache's own timeout bounds the call).
	if err := s.cache.Delete(context.WithoutCancel(ctx), ck); err != nil {
		// The database has the new value but the cache may still hold the
		// old one: report it rather than serve stale data silently.
		return &StaleCacheError{Err: err}
	}
	return nil
}

// StaleCacheError reports a write that reached the database but whose cache
// entry could not be invalidated.
type StaleCacheError struct{ Err error }

func (e *StaleCacheError) Error() string {
	return "written, but the cache entry could not be invalidated: " + e.Err.Error()
}
func (e *StaleCacheError) Unwrap() error { return e.Err }

// Query goes to the database; pages are not cached. Items carry their
// versions when the provider keeps them.
func (s *Store) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.db.Query(ctx, coll, q)
}

// Latest reads an entry from the database, never from the cache: what a
// watcher is sent after another instance changed it.
func (s *Store) Latest(ctx context.Context, coll, key string) (providers.Entry, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.getDB(ctx, coll, key)
}

// Ping checks the database.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// Close closes the cache and the database.
func (s *Store) Close() error {
	var errs []error
	if s.cache != nil {
		errs = append(errs, s.cache.Close())
	}
	errs = append(errs, s.db.Close())
	return errors.Join(errs...)
}
