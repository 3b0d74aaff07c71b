// Package memory provides an in-memory database and a ristretto-backed
// in-process cache.
package memory

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/navius-dev/navius/providers"
)

// Database is a concurrency-safe in-memory database. Its contents vanish with
// the process.
type Database struct {
	mu          sync.RWMutex
	collections map[string]*collection
	closed      bool
}

type collection struct {
	values map[string][]byte
	// sorted holds the keys in order for paging; it is rebuilt lazily after
	// a key is added or removed.
	sorted []string
	dirty  bool
}

// NewDatabase returns an empty database.
func NewDatabase() *Database {
	return &Database{collections: map[string]*collection{}}
}

// OpenDatabase is the registry's opener for memory:// URLs.
func OpenDatabase(_ context.Context, cfg providers.DatabaseConfig) (providers.Database, error) {
	if err := checkURL(cfg.URL); err != nil {
		return nil, providers.Invalid("database: %v", err)
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
		return providers.Invalid("bad memory URL %q: use memory://", u)
	}
	return nil
}

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, providers.ErrClosed
	}
	if c := d.collections[coll]; c != nil {
		if v, ok := c.values[key]; ok {
			return slices.Clone(v), nil
		}
	}
	return nil, providers.ErrNotFound
}

func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	v := slices.Clone(value)
	if v == nil {
		v = []byte{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return providers.ErrClosed
	}
	c := d.collections[coll]
	if c == nil {
		c = &collection{values: map[string][]byte{}}
		d.collections[coll] = c
	}
	if _, exists := c.values[key]; !exists {
		c.dirty = true
	}
	c.values[key] = v
	return nil
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false, providers.ErrClosed
	}
	c := d.collections[coll]
	if c == nil {
		return false, nil
	}
	if _, ok := c.values[key]; !ok {
		return false, nil
	}
	delete(c.values, key)
	c.dirty = true
	if len(c.values) == 0 {
		delete(d.collections, coll)
	}
	return true, nil
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
		for k := range c.values {
			c.sorted = append(c.sorted, k)
		}
		sort.Strings(c.sorted)
		c.dirty = false
	}
	start := 0
	if q.Cursor != "" {
		start = sort.Search(len(c.sorted), func(i int) bool { return c.sorted[i] > after })
	}
	var page providers.Page
	for _, k := range c.sorted[start:] {
		v := c.values[k]
		if !bytes.Contains(v, filter) {
			continue
		}
		if len(page.Items) == limit {
			// One more match exists: hand out a cursor after the last item.
			page.NextCursor = providers.EncodeKeyCursor(page.Items[limit-1].Key)
			break
		}
		page.Items = append(page.Items, providers.Item{Key: k, Value: slices.Clone(v)})
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
	d.collections = nil
	return nil
}
