// Package shardmem is a test fixture: a database provider with a real
// dependency tree, for the e2e test of what navius build --with records
// about a module's dependencies (e2e TestBuildWithDependencies). It keeps
// its data in memory, spread over shards by an xxh3 hash of the key
// (github.com/zeebo/xxh3, which on amd64 brings
// github.com/klauspost/cpuid/v2), each shard padded to a cache line
// (golang.org/x/sys/cpu). Its go.mod requires golang.org/x/sys one minor
// version above navius's own requirement, on purpose: the build reports
// the raise, the SBOM records it, and --strict refuses it.
//
// shardmem://NAME names a store that lives as long as the process: every
// database opened with that URL shares it, and Close closes the handle,
// not the store (as SQLite's shared in-memory databases do), so that a
// reopen finds what was acknowledged.
package shardmem

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/cpu"

	"github.com/navius-dev/navius/providers"
)

// Name is the provider's name and its URL scheme.
const Name = "shardmem"

func init() {
	providers.RegisterDatabase(Name, []string{Name}, Open)
}

// shards is how many shards a store has.
const shards = 16

type shard struct {
	_  cpu.CacheLinePad // no false sharing between neighbouring shards' locks
	mu sync.RWMutex
	// data holds the values by collection, then key.
	data map[string]map[string][]byte
}

type store struct{ shards [shards]shard }

var (
	storesMu sync.Mutex
	stores   = map[string]*store{}
)

// DB is a handle on a named store.
type DB struct {
	s      *store
	closed atomic.Bool
}

// Open opens the store the URL names, making it on first use.
func Open(_ context.Context, cfg providers.DatabaseConfig) (*DB, error) {
	u, err := url.Parse(cfg.URL)
	name := ""
	if err == nil {
		name = u.Host + u.Path
	}
	if err != nil || !strings.EqualFold(u.Scheme, Name) || name == "" {
		return nil, providers.Invalid("bad shardmem URL %q: use shardmem://NAME", providers.Redact(cfg.URL))
	}
	storesMu.Lock()
	defer storesMu.Unlock()
	s := stores[name]
	if s == nil {
		s = &store{}
		for i := range s.shards {
			s.shards[i].data = map[string]map[string][]byte{}
		}
		stores[name] = s
	}
	return &DB{s: s}, nil
}

func (db *DB) usable(ctx context.Context) error {
	if db.closed.Load() {
		return fmt.Errorf("shardmem: %w", providers.ErrClosed)
	}
	return ctx.Err()
}

// shardOf is the shard that holds collection/key.
func (db *DB) shardOf(collection, key string) *shard {
	return &db.s.shards[xxh3.HashString(collection+"\x00"+key)%shards]
}

// Get implements providers.Database.
func (db *DB) Get(ctx context.Context, collection, key string) ([]byte, error) {
	if err := db.usable(ctx); err != nil {
		return nil, err
	}
	sh := db.shardOf(collection, key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	v, ok := sh.data[collection][key]
	if !ok {
		return nil, providers.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Set implements providers.Database.
func (db *DB) Set(ctx context.Context, collection, key string, value []byte) error {
	if err := db.usable(ctx); err != nil {
		return err
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	sh := db.shardOf(collection, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.data[collection]
	if c == nil {
		c = map[string][]byte{}
		sh.data[collection] = c
	}
	c[key] = v
	return nil
}

// Delete implements providers.Database.
func (db *DB) Delete(ctx context.Context, collection, key string) (bool, error) {
	if err := db.usable(ctx); err != nil {
		return false, err
	}
	sh := db.shardOf(collection, key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.data[collection]
	if _, ok := c[key]; !ok {
		return false, nil
	}
	delete(c, key)
	if len(c) == 0 {
		delete(sh.data, collection)
	}
	return true, nil
}

// Query implements providers.Database: the matching entries after the
// cursor, from every shard, in key order.
func (db *DB) Query(ctx context.Context, collection string, q providers.Query) (providers.Page, error) {
	if err := db.usable(ctx); err != nil {
		return providers.Page{}, err
	}
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	var items []providers.Item
	for i := range db.s.shards {
		if err := ctx.Err(); err != nil {
			return providers.Page{}, err
		}
		sh := &db.s.shards[i]
		sh.mu.RLock()
		for k, v := range sh.data[collection] {
			if (q.Cursor == "" || k > after) && bytes.Contains(v, []byte(q.Filter)) {
				items = append(items, providers.Item{Key: k, Value: bytes.Clone(v)})
			}
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(items, func(a, b providers.Item) int { return strings.Compare(a.Key, b.Key) })
	limit, size := q.EffectiveLimit(), int64(0)
	for i, it := range items {
		size += int64(len(it.Key) + len(it.Value))
		if i == limit || i > 0 && q.MaxBytes > 0 && size > q.MaxBytes {
			return providers.Page{Items: items[:i], NextCursor: providers.EncodeKeyCursor(items[i-1].Key)}, nil
		}
	}
	return providers.Page{Items: items}, nil
}

// Ping implements providers.Database.
func (db *DB) Ping(ctx context.Context) error { return db.usable(ctx) }

// Close implements providers.Database: it closes this handle; the store
// keeps its data for the next Open of its URL.
func (db *DB) Close() error {
	db.closed.Store(true)
	return nil
}
