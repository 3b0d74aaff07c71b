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
package store

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/navius-dev/navius/providers"
)

// stripes bounds the invalidation bookkeeping: writes bump the version of the
// key's stripe, never a per-key entry, so memory stays fixed.
const stripes = 1024

// Store is the database service.
type Store struct {
	db       providers.Database
	cache    providers.Cache // nil: no cache
	timeout  time.Duration
	cacheTTL time.Duration
	changes  providers.ChangeFeed // nil: this instance is the only writer
	seed     maphash.Seed
	stripe   [stripes]struct {
		sync.Mutex
		version uint64
	}
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
}

// New wraps db with cache (which may be nil).
func New(db providers.Database, cache providers.Cache, opts Options) *Store {
	s := &Store{db: db, cache: cache, timeout: opts.Timeout, cacheTTL: opts.CacheTTL, seed: maphash.MakeSeed()}
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

func cacheKey(coll, key string) string { return coll + "\x00" + key }

func (s *Store) stripeOf(ck string) int { return int(maphash.String(s.seed, ck) % stripes) }

func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return ctx, func() {}
}

// Get reads through the cache. A cache failure never fails a read: it falls
// through to the database.
func (s *Store) Get(ctx context.Context, coll, key string) ([]byte, error) {
	if s.cache == nil {
		ctx, cancel := s.withTimeout(ctx)
		defer cancel()
		return s.db.Get(ctx, coll, key)
	}
	ck := cacheKey(coll, key)
	if v, ok, err := s.cache.Get(ctx, ck); err == nil && ok {
		return v, nil
	}
	st := &s.stripe[s.stripeOf(ck)]
	st.Lock()
	version := st.version
	st.Unlock()

	dctx, cancel := s.withTimeout(ctx)
	v, err := s.db.Get(dctx, coll, key)
	cancel()
	if err != nil {
		return nil, err
	}
	st.Lock()
	if st.version == version { // no write raced this read
		_ = s.cache.Set(ctx, ck, v, s.fillTTL())
	}
	st.Unlock()
	return v, nil
}

// Set writes to the database, then invalidates the cache entry.
func (s *Store) Set(ctx context.Context, coll, key string, value []byte) error {
	dctx, cancel := s.withTimeout(ctx)
	err := s.db.Set(dctx, coll, key, value)
	cancel()
	if err != nil {
		return err
	}
	return s.invalidate(ctx, coll, key)
}

// Delete removes from the database, then invalidates the cache entry.
func (s *Store) Delete(ctx context.Context, coll, key string) (bool, error) {
	dctx, cancel := s.withTimeout(ctx)
	existed, err := s.db.Delete(dctx, coll, key)
	cancel()
	if err != nil {
		return false, err
	}
	return existed, s.invalidate(ctx, coll, key)
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
	if err := s.cache.Delete(ctx, ck); err != nil {
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

// Query goes to the database; pages are not cached.
func (s *Store) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	return s.db.Query(ctx, coll, q)
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
