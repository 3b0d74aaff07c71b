// Package memory provides an in-memory database and a ristretto-backed
// in-process cache.
package memory

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Options are the memory database's config options.
var Options = []providers.Option{
	{Key: "memory.capacity", Type: providers.Bytes, Default: DefaultDatabaseCapacity, Bound: true,
		Description: "Most bytes the memory database holds (keys, values and about 100 bytes per entry); writes past it get 507. 0: unbounded."},
}

// DefaultDatabaseCapacity is memory.capacity's default.
const DefaultDatabaseCapacity = "1GiB"

// Database is a concurrency-safe in-memory database. Its contents vanish with
// the process. It implements every optional capability: versions
// (providers.Versioned), expiry (providers.Expiring) and atomic batches
// (providers.Batcher).
//
// Each collection has its own lock, and a query copies a chunk of the
// collection's entries under it and filters them outside it, so scans never
// hold up writers for long, and never those of other collections.
type Database struct {
	mu          sync.RWMutex // guards collections and closed; taken before a collection's lock
	collections map[string]*collection
	closed      bool

	expMu    sync.Mutex
	expiries expiryHeap // entries with a TTL, soonest first

	// made room: expired entries removed to make room for a write, which
	// the next SweepKeys names (up to maxMadeRoom, then only counts).
	roomMu   sync.Mutex
	madeRoom [][2]string
	unnamed  int

	capacity int64 // bytes; 0: unbounded
	used     atomic.Int64
	now      func() time.Time
}

type collection struct {
	mu      sync.RWMutex
	entries map[string]*entry
	// sorted holds the keys in order for paging; it is rebuilt lazily after
	// a key is added or removed.
	sorted []string
	dirty  bool
	// dead is set once the emptied collection left the database's map:
	// a writer that finds it so looks the collection up again.
	dead bool
}

// entry is a stored value; it is never changed once stored (a write stores
// a new one), so a query may read it outside the collection's lock.
// Versions are random (providers.NewVersion), so a key's version is never
// reused, across restarts included.
type entry struct {
	value   []byte
	version uint64
	expires int64 // Unix nanoseconds; 0: never
}

func (e *entry) expired(now int64) bool { return e.expires != 0 && e.expires <= now }

// entryOverhead approximates what an entry costs beyond its key and value
// (the map slot, the entry, the sorted index), for memory.capacity.
const entryOverhead = 100

func size(key string, e *entry) int64 {
	if e == nil {
		return 0
	}
	return int64(len(key)+len(e.value)) + entryOverhead
}

// NewDatabase returns an empty, unbounded database.
func NewDatabase() *Database {
	return &Database{collections: map[string]*collection{}, now: time.Now}
}

// OpenDatabase is the registry's opener for memory:// URLs.
func OpenDatabase(_ context.Context, cfg providers.DatabaseConfig) (*Database, error) {
	if err := CheckDatabase(cfg); err != nil {
		return nil, err
	}
	d := NewDatabase()
	d.capacity = cfg.Settings.Bytes("memory.capacity")
	return d, nil
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

// SetCapacity bounds the database to capacity bytes (0: unbounded).
func (d *Database) SetCapacity(capacity int64) { d.capacity = capacity }

// Used reports the bytes memory.capacity counts.
func (d *Database) Used() int64 { return d.used.Load() }

// lookup returns the collection, or nil.
func (d *Database) lookup(coll string) (*collection, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, providers.ErrClosed
	}
	return d.collections[coll], nil
}

// lockForWrite returns the collections named by colls (each once, created
// when missing), write-locked in name order; unlock releases them.
func (d *Database) lockForWrite(colls ...string) (cs map[string]*collection, unlock func(), err error) {
	names := slices.Clone(colls)
	slices.Sort(names)
	names = slices.Compact(names)
	for {
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			return nil, nil, providers.ErrClosed
		}
		cs = make(map[string]*collection, len(names))
		for _, n := range names {
			c := d.collections[n]
			if c == nil {
				c = &collection{entries: map[string]*entry{}}
				d.collections[n] = c
			}
			cs[n] = c
		}
		d.mu.Unlock()
		dead := false
		for _, n := range names {
			cs[n].mu.Lock()
			dead = dead || cs[n].dead
		}
		unlock = func() {
			for _, n := range names {
				cs[n].mu.Unlock()
			}
		}
		if !dead {
			return cs, unlock, nil
		}
		unlock() // emptied and dropped meanwhile: look again
	}
}

// dropIfEmpty removes emptied collections from the map.
func (d *Database) dropIfEmpty(cs map[string]*collection) {
	var empty []string
	for n, c := range cs {
		c.mu.RLock()
		if len(c.entries) == 0 {
			empty = append(empty, n)
		}
		c.mu.RUnlock()
	}
	if len(empty) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range empty {
		c := cs[n]
		c.mu.Lock()
		if len(c.entries) == 0 && !c.dead && d.collections[n] == c {
			c.dead = true
			delete(d.collections, n)
		}
		c.mu.Unlock()
	}
}

// live returns the entry under key unless it is absent or expired; the
// caller holds c.mu.
func (c *collection) live(key string, now int64) *entry {
	if e := c.entries[key]; e != nil && !e.expired(now) {
		return e
	}
	return nil
}

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	e, err := d.GetEntry(ctx, coll, key)
	return e.Value, err
}

// GetEntry implements providers.Versioned.
func (d *Database) GetEntry(ctx context.Context, coll, key string) (providers.Entry, error) {
	if err := ctx.Err(); err != nil {
		return providers.Entry{}, err
	}
	c, err := d.lookup(coll)
	if err != nil || c == nil {
		return providers.Entry{}, firstErr(err, providers.ErrNotFound)
	}
	c.mu.RLock()
	e := c.live(key, d.now().UnixNano())
	c.mu.RUnlock()
	if e == nil {
		return providers.Entry{}, providers.ErrNotFound
	}
	out := providers.Entry{Value: slices.Clone(e.value), Version: providers.FormatVersion(e.version)}
	if e.expires != 0 {
		out.ExpiresAt = time.Unix(0, e.expires)
	}
	return out, nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	_, err := d.Put(ctx, coll, key, value, providers.Write{})
	return err
}

// Put implements providers.Versioned and, with w.TTL, providers.Expiring.
func (d *Database) Put(ctx context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	res, err := d.Apply(ctx, []providers.BatchOp{{Collection: coll, Key: key, Value: value, Condition: w.Condition, TTL: w.TTL}})
	if err != nil {
		return "", err
	}
	return res[0].Version, nil
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	return d.Remove(ctx, coll, key, providers.Condition{})
}

// Remove implements providers.Versioned.
func (d *Database) Remove(ctx context.Context, coll, key string, cond providers.Condition) (bool, error) {
	res, err := d.Apply(ctx, []providers.BatchOp{{Collection: coll, Key: key, Delete: true, Condition: cond}})
	if err != nil {
		return false, err
	}
	return res[0].Existed, nil
}

// Apply implements providers.Batcher: the collections the batch touches are
// locked together, every condition is decided, then every operation is
// applied. Single writes are batches of one.
func (d *Database) Apply(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := providers.CheckBatch(ops); err != nil {
		return nil, err
	}
	values := make([][]byte, len(ops))
	colls := make([]string, len(ops))
	for i, op := range ops {
		colls[i] = op.Collection
		if !op.Delete {
			if values[i] = slices.Clone(op.Value); values[i] == nil {
				values[i] = []byte{}
			}
		}
	}
	for attempt := 0; ; attempt++ {
		res, grow, err := d.apply(ops, values, colls)
		if err == nil || grow == 0 || attempt > 0 || d.sweepExpired(1000, d.noteMadeRoom) == 0 {
			return res, err
		}
		// Full: expired entries may be what fills it; swept, try once more.
	}
}

// apply applies the batch under the collections' locks. When the batch
// would pass the capacity it returns ErrFull and the bytes it needed.
func (d *Database) apply(ops []providers.BatchOp, values [][]byte, colls []string) ([]providers.BatchResult, int64, error) {
	cs, unlock, err := d.lockForWrite(colls...)
	if err != nil {
		return nil, 0, err
	}
	defer d.dropIfEmpty(cs)
	defer unlock()
	now := d.now().UnixNano()
	var grow int64
	for i, op := range ops {
		c := cs[op.Collection]
		e := c.live(op.Key, now)
		if !op.Condition.IsZero() {
			version := ""
			if e != nil {
				version = providers.FormatVersion(e.version)
			}
			if !op.Condition.Holds(e != nil, version) {
				pe := providers.Precondition(e != nil, version).(*providers.PreconditionError)
				pe.Op = i
				return nil, 0, pe
			}
		}
		if !op.Delete {
			grow += int64(len(op.Key)+len(values[i])) + entryOverhead
		}
		grow -= size(op.Key, c.entries[op.Key])
	}
	if used := d.used.Load(); d.capacity > 0 && grow > 0 && used+grow > d.capacity {
		return nil, grow, fmt.Errorf("%w: the memory database holds %d bytes of its %d-byte memory.capacity, and this write needs %d more: delete entries, give them a ttl, or raise memory.capacity",
			providers.ErrFull, used, d.capacity, grow)
	}
	res := make([]providers.BatchResult, len(ops))
	for i, op := range ops {
		c := cs[op.Collection]
		old := c.entries[op.Key]
		if op.Delete {
			if old != nil {
				res[i].Existed = !old.expired(now)
				delete(c.entries, op.Key)
				c.dirty = true
			}
			continue
		}
		e := &entry{value: values[i], version: providers.NewVersion()}
		if op.TTL > 0 {
			e.expires = now + int64(op.TTL)
			d.expMu.Lock()
			heap.Push(&d.expiries, expiry{at: e.expires, coll: op.Collection, key: op.Key, version: e.version})
			d.expMu.Unlock()
		}
		if old == nil {
			c.dirty = true
		}
		c.entries[op.Key] = e
		res[i].Version = providers.FormatVersion(e.version)
	}
	d.used.Add(grow)
	return res, 0, nil
}

// queryChunk is how many entries a query copies under a collection's
// read lock at a time.
const queryChunk = 256

// ctxCheckBytes is how many bytes of values a filter looks through between
// checks of the query's context.
const ctxCheckBytes = 1 << 20

// Query pages through the collection in key order. The cursor is the last
// key returned, so entries added or removed between pages do not shift the
// walk. It takes the collection's lock for one chunk of keys at a time and
// filters outside it, checking ctx between chunks; q.MaxBytes ends a page
// early.
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	if err := ctx.Err(); err != nil {
		return providers.Page{}, err
	}
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	c, err := d.lookup(coll)
	if err != nil || c == nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	filter := []byte(q.Filter)
	var page providers.Page
	var bytesSoFar int64
	started := q.Cursor != ""
	keys := make([]string, 0, queryChunk)
	entries := make([]*entry, 0, queryChunk)
	for {
		if err := ctx.Err(); err != nil {
			return providers.Page{}, err
		}
		keys, entries = c.chunk(after, started, keys[:0], entries[:0])
		if len(keys) == 0 {
			return page, nil
		}
		now := d.now().UnixNano()
		scanned := 0
		for i, e := range entries {
			if scanned += len(e.value); scanned > ctxCheckBytes && len(filter) > 0 {
				// A filter costs up to a few ms per MiB: a chunk of large
				// values takes long enough to check ctx within it too.
				if err := ctx.Err(); err != nil {
					return providers.Page{}, err
				}
				scanned = 0
			}
			if e.expired(now) || !bytes.Contains(e.value, filter) {
				continue
			}
			n := int64(len(keys[i]) + len(e.value))
			if len(page.Items) == limit || (q.MaxBytes > 0 && len(page.Items) > 0 && bytesSoFar+n > q.MaxBytes) {
				// One more match exists: hand out a cursor after the last item.
				page.NextCursor = providers.EncodeKeyCursor(page.Items[len(page.Items)-1].Key)
				return page, nil
			}
			bytesSoFar += n
			page.Items = append(page.Items, providers.Item{Key: keys[i], Value: slices.Clone(e.value), Version: providers.FormatVersion(e.version)})
		}
		after, started = keys[len(keys)-1], true
	}
}

// chunk appends up to queryChunk keys after after (from the start unless
// started) and their entries.
func (c *collection) chunk(after string, started bool, keys []string, entries []*entry) ([]string, []*entry) {
	c.mu.RLock()
	if c.dirty {
		c.mu.RUnlock()
		c.mu.Lock()
		if c.dirty {
			c.sorted = c.sorted[:0]
			for k := range c.entries {
				c.sorted = append(c.sorted, k)
			}
			sort.Strings(c.sorted)
			c.dirty = false
		}
		c.mu.Unlock()
		c.mu.RLock()
	}
	defer c.mu.RUnlock()
	start := 0
	if started {
		start = sort.Search(len(c.sorted), func(i int) bool { return c.sorted[i] > after })
	}
	for _, k := range c.sorted[start:] {
		if len(keys) == queryChunk {
			break
		}
		if e := c.entries[k]; e != nil { // nil: deleted since the index was built
			keys, entries = append(keys, k), append(entries, e)
		}
	}
	return keys, entries
}

// Sweep implements providers.Expiring: it drops up to limit expired
// entries, soonest first.
func (d *Database) Sweep(ctx context.Context, limit int) (int, error) {
	return d.SweepKeys(ctx, limit, nil)
}

// SweepKeys implements providers.ExpiryReporter: Sweep, naming each entry
// it removed, and first those a write removed since to make room (that are
// still absent: one written again is a put to its watchers).
func (d *Database) SweepKeys(ctx context.Context, limit int, removed func(collection, key string)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d.mu.RLock()
	closed := d.closed
	d.mu.RUnlock()
	if closed {
		return 0, providers.ErrClosed
	}
	n := 0
	if removed != nil {
		n = d.nameMadeRoom(removed)
	}
	return n + d.sweepExpired(limit, removed), nil
}

// maxMadeRoom bounds the names kept between sweeps; removals past it are
// counted, not named.
const maxMadeRoom = 10000

func (d *Database) noteMadeRoom(coll, key string) {
	d.roomMu.Lock()
	defer d.roomMu.Unlock()
	if len(d.madeRoom) < maxMadeRoom {
		d.madeRoom = append(d.madeRoom, [2]string{coll, key})
	} else {
		d.unnamed++
	}
}

// nameMadeRoom names the entries removed to make room, and returns how
// many it named plus how many it could not.
func (d *Database) nameMadeRoom(removed func(collection, key string)) int {
	d.roomMu.Lock()
	names, n := d.madeRoom, d.unnamed
	d.madeRoom, d.unnamed = nil, 0
	d.roomMu.Unlock()
	for _, ck := range names {
		c, err := d.lookup(ck[0])
		if err != nil {
			continue
		}
		absent := true
		if c != nil {
			c.mu.Lock()
			absent = c.entries[ck[1]] == nil
			c.mu.Unlock()
		}
		if absent {
			removed(ck[0], ck[1])
			n++
		}
	}
	return n
}

func (d *Database) sweepExpired(limit int, removed func(collection, key string)) int {
	n := 0
	for n < limit {
		now := d.now().UnixNano()
		d.expMu.Lock()
		if len(d.expiries) == 0 || d.expiries[0].at > now {
			d.expMu.Unlock()
			return n
		}
		x := heap.Pop(&d.expiries).(expiry)
		d.expMu.Unlock()
		// The key may have been written since: only that version goes.
		c, err := d.lookup(x.coll)
		if err != nil || c == nil {
			continue
		}
		c.mu.Lock()
		if e := c.entries[x.key]; e != nil && e.version == x.version && !c.dead {
			delete(c.entries, x.key)
			c.dirty = true
			d.used.Add(-size(x.key, e))
			n++
			if removed != nil {
				removed(x.coll, x.key)
			}
		}
		c.mu.Unlock()
		d.dropIfEmpty(map[string]*collection{x.coll: c})
	}
	return n
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

func (d *Database) Ping(ctx context.Context) error {
	if _, err := d.lookup(""); err != nil {
		return err
	}
	return ctx.Err()
}

func (d *Database) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.collections = nil
	d.expMu.Lock()
	d.expiries = nil
	d.expMu.Unlock()
	d.used.Store(0)
	return nil
}

var (
	_ providers.Expiring       = (*Database)(nil)
	_ providers.Batcher        = (*Database)(nil)
	_ providers.ExpiryReporter = (*Database)(nil)
)
