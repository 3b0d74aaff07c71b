// Package memory provides an in-memory database and a ristretto-backed
// in-process cache.
package memory

import (
	"bytes"
	"container/heap"
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Database is a concurrency-safe in-memory database. Its contents vanish with
// the process. It implements every optional capability: versions
// (providers.Versioned), expiry (providers.Expiring) and atomic batches
// (providers.Batcher).
type Database struct {
	mu          sync.RWMutex
	collections map[string]*collection
	expiries    expiryHeap // entries with a TTL, soonest first
	closed      bool
	now         func() time.Time
}

type collection struct {
	entries map[string]*entry
	// sorted holds the keys in order for paging; it is rebuilt lazily after
	// a key is added or removed.
	sorted []string
	dirty  bool
}

// entry is a stored value. Versions are random (providers.NewVersion), so
// a key's version is never reused, across restarts included.
type entry struct {
	value   []byte
	version uint64
	expires int64 // Unix nanoseconds; 0: never
}

func (e *entry) expired(now int64) bool { return e.expires != 0 && e.expires <= now }

// NewDatabase returns an empty database.
func NewDatabase() *Database {
	return &Database{collections: map[string]*collection{}, now: time.Now}
}

// OpenDatabase is the registry's opener for memory:// URLs.
func OpenDatabase(_ context.Context, cfg providers.DatabaseConfig) (*Database, error) {
	if err := CheckDatabase(cfg); err != nil {
		return nil, err
	}
	return NewDatabase(), nil
}

// checkURL accepts "memory://" and "memory:" with nothing after the scheme.
func checkURL(u string) error {
	if u == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(strings.ToLower(u), "memory:")
	if !ok || (rest != "" && rest != "//" && !strings.HasPrefix(rest, "//?")) {
		return providers.Invalid("bad memory URL %q: use memory://", providers.Redact(u))
	}
	return nil
}

// live returns the entry under key unless it is absent or expired. The
// caller holds d.mu.
func (d *Database) live(coll, key string, now int64) *entry {
	if c := d.collections[coll]; c != nil {
		if e := c.entries[key]; e != nil && !e.expired(now) {
			return e
		}
	}
	return nil
}

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	e, err := d.GetEntry(ctx, coll, key)
	return e.Value, err
}

// GetEntry implements providers.Versioned.
func (d *Database) GetEntry(_ context.Context, coll, key string) (providers.Entry, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return providers.Entry{}, providers.ErrClosed
	}
	e := d.live(coll, key, d.now().UnixNano())
	if e == nil {
		return providers.Entry{}, providers.ErrNotFound
	}
	out := providers.Entry{Value: slices.Clone(e.value), Version: providers.FormatVersion(e.version)}
	if e.expires != 0 {
		out.ExpiresAt = time.Unix(0, e.expires)
	}
	return out, nil
}

func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	_, err := d.Put(ctx, coll, key, value, providers.Write{})
	return err
}

// Put implements providers.Versioned and, with w.TTL, providers.Expiring.
func (d *Database) Put(_ context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", providers.ErrClosed
	}
	now := d.now().UnixNano()
	if err := d.check(coll, key, w.Condition, now); err != nil {
		return "", err
	}
	return providers.FormatVersion(d.put(coll, key, v, w.TTL, now)), nil
}

// check decides cond against the live entry; the caller holds d.mu.
func (d *Database) check(coll, key string, cond providers.Condition, now int64) error {
	if cond.IsZero() {
		return nil
	}
	e := d.live(coll, key, now)
	version := ""
	if e != nil {
		version = providers.FormatVersion(e.version)
	}
	if !cond.Holds(e != nil, version) {
		return providers.Precondition(e != nil, version)
	}
	return nil
}

// put stores v under key with a new version; the caller holds d.mu.
func (d *Database) put(coll, key string, v []byte, ttl time.Duration, now int64) uint64 {
	c := d.collections[coll]
	if c == nil {
		c = &collection{entries: map[string]*entry{}}
		d.collections[coll] = c
	}
	e := &entry{value: v, version: providers.NewVersion()}
	if ttl > 0 {
		e.expires = now + int64(ttl)
		heap.Push(&d.expiries, expiry{at: e.expires, coll: coll, key: key, version: e.version})
	}
	if _, exists := c.entries[key]; !exists {
		c.dirty = true
	}
	c.entries[key] = e
	return e.version
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	return d.Remove(ctx, coll, key, providers.Condition{})
}

// Remove implements providers.Versioned.
func (d *Database) Remove(_ context.Context, coll, key string, cond providers.Condition) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false, providers.ErrClosed
	}
	now := d.now().UnixNano()
	if err := d.check(coll, key, cond, now); err != nil {
		return false, err
	}
	return d.remove(coll, key, now), nil
}

// remove deletes key and reports whether a live entry was there; the
// caller holds d.mu.
func (d *Database) remove(coll, key string, now int64) bool {
	c := d.collections[coll]
	if c == nil {
		return false
	}
	e, ok := c.entries[key]
	if !ok {
		return false
	}
	delete(c.entries, key)
	c.dirty = true
	if len(c.entries) == 0 {
		delete(d.collections, coll)
	}
	return !e.expired(now)
}

// Apply implements providers.Batcher: every condition is decided, then
// every operation applied, under one lock.
func (d *Database) Apply(_ context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	if err := providers.CheckBatch(ops); err != nil {
		return nil, err
	}
	values := make([][]byte, len(ops))
	for i, op := range ops {
		if !op.Delete {
			if values[i] = slices.Clone(op.Value); values[i] == nil {
				values[i] = []byte{}
			}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, providers.ErrClosed
	}
	now := d.now().UnixNano()
	for i, op := range ops {
		if err := d.check(op.Collection, op.Key, op.Condition, now); err != nil {
			err.(*providers.PreconditionError).Op = i
			return nil, err
		}
	}
	res := make([]providers.BatchResult, len(ops))
	for i, op := range ops {
		if op.Delete {
			res[i].Existed = d.remove(op.Collection, op.Key, now)
		} else {
			res[i].Version = providers.FormatVersion(d.put(op.Collection, op.Key, values[i], op.TTL, now))
		}
	}
	return res, nil
}

// Sweep implements providers.Expiring: it drops up to limit expired
// entries, soonest first.
func (d *Database) Sweep(_ context.Context, limit int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, providers.ErrClosed
	}
	now := d.now().UnixNano()
	n := 0
	for n < limit && len(d.expiries) > 0 && d.expiries[0].at <= now {
		x := heap.Pop(&d.expiries).(expiry)
		// The key may have been written since: only that version goes.
		if c := d.collections[x.coll]; c != nil {
			if e := c.entries[x.key]; e != nil && e.version == x.version {
				d.remove(x.coll, x.key, now)
				n++
			}
		}
	}
	return n, nil
}

// expiry is an entry's place in the expiry heap.
type expiry struct {
	at        int64
	coll, key string
	version   uint64
}

type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Query pages through the collection in key order. The cursor is the last
// key returned, so entries added or removed between pages do not shift the
// walk.
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	filter := []byte(q.Filter)

	d.mu.Lock() // the sorted index may need rebuilding
	defer d.mu.Unlock()
	if d.closed {
		return providers.Page{}, providers.ErrClosed
	}
	c := d.collections[coll]
	if c == nil {
		return providers.Page{}, nil
	}
	if c.dirty {
		c.sorted = c.sorted[:0]
		for k := range c.entries {
			c.sorted = append(c.sorted, k)
		}
		sort.Strings(c.sorted)
		c.dirty = false
	}
	start := 0
	if q.Cursor != "" {
		start = sort.Search(len(c.sorted), func(i int) bool { return c.sorted[i] > after })
	}
	now := d.now().UnixNano()
	var page providers.Page
	for _, k := range c.sorted[start:] {
		e := c.entries[k]
		if e.expired(now) || !bytes.Contains(e.value, filter) {
			continue
		}
		if len(page.Items) == limit {
			// One more match exists: hand out a cursor after the last item.
			page.NextCursor = providers.EncodeKeyCursor(page.Items[limit-1].Key)
			break
		}
		page.Items = append(page.Items, providers.Item{Key: k, Value: slices.Clone(e.value), Version: providers.FormatVersion(e.version)})
	}
	return page, nil
}

func (d *Database) Ping(ctx context.Context) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return providers.ErrClosed
	}
	return ctx.Err()
}

func (d *Database) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.collections, d.expiries = nil, nil
	return nil
}
