package providertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
)

// Providers that this package's tests open through the registry, as the
// Config harness does: kitbolt (navius's bolt, its core methods only,
// checking the context first: the kit's tests are about the kit, bolt's
// own conformance test holds bolt to every case), and kitlog, a log file
// provider that a setting breaks in the ways CrashDurable must catch.
func init() {
	providers.RegisterDatabase("kitbolt", []string{"kitbolt"}, func(ctx context.Context, cfg providers.DatabaseConfig) (providers.Database, error) {
		db, err := bolt.Open(strings.TrimPrefix(cfg.URL, "kitbolt://"), bolt.Config{})
		if err != nil {
			return nil, err
		}
		return checksContext{db}, nil
	})
	providers.RegisterDatabase("kitlog", []string{"kitlog"}, openLogDB)
}

// checksContext fails a call whose context is done before it reaches the
// database.
type checksContext struct{ db providers.Database }

func (c checksContext) Get(ctx context.Context, coll, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.db.Get(ctx, coll, key)
}

func (c checksContext) Set(ctx context.Context, coll, key string, v []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.db.Set(ctx, coll, key, v)
}

func (c checksContext) Delete(ctx context.Context, coll, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return c.db.Delete(ctx, coll, key)
}

func (c checksContext) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	if err := ctx.Err(); err != nil {
		return providers.Page{}, err
	}
	return c.db.Query(ctx, coll, q)
}

func (c checksContext) Ping(ctx context.Context) error { return c.db.Ping(ctx) }
func (c checksContext) Close() error                   { return c.db.Close() }

// ignoresContext writes whatever the context says.
type ignoresContext struct{ providers.Database }

func (i ignoresContext) Set(_ context.Context, coll, key string, v []byte) error {
	return i.Database.Set(context.Background(), coll, key, v)
}

// cacheIgnoresContext sets whatever the context says.
type cacheIgnoresContext struct{ providers.Cache }

func (i cacheIgnoresContext) Set(_ context.Context, key string, v []byte, ttl time.Duration) error {
	return i.Cache.Set(context.Background(), key, v, ttl)
}

// cacheUseAfterClose drops its map on Close, so that a Set racing Close
// panics on it (as navius's memory cache did: ristretto's Close closes the
// channel a Set in flight sends on).
type cacheUseAfterClose struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (u *cacheUseAfterClose) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.data == nil {
		return nil, false, providers.ErrClosed
	}
	v, ok := u.data[key]
	return slices.Clone(v), ok, nil
}

func (u *cacheUseAfterClose) Set(ctx context.Context, key string, v []byte, _ time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data[key] = slices.Clone(v) // the bug: panics once Close dropped the map
	return nil
}

func (u *cacheUseAfterClose) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.data, key)
	return nil
}

func (u *cacheUseAfterClose) Clear(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	clear(u.data)
	return nil
}

func (u *cacheUseAfterClose) Stats(ctx context.Context) (providers.CacheStats, error) {
	if err := ctx.Err(); err != nil {
		return providers.CacheStats{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return providers.CacheStats{Entries: int64(len(u.data)), Bytes: -1}, nil
}

func (u *cacheUseAfterClose) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data = nil
	return nil
}

// useAfterClose drops its map on Close, so that a call racing Close
// panics on it.
type useAfterClose struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (u *useAfterClose) Get(ctx context.Context, coll, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.data[coll+"\x00"+key]
	if !ok {
		if u.data == nil {
			return nil, providers.ErrClosed
		}
		return nil, providers.ErrNotFound
	}
	return slices.Clone(v), nil
}

func (u *useAfterClose) Set(ctx context.Context, coll, key string, v []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data[coll+"\x00"+key] = slices.Clone(v) // the bug: panics once Close dropped the map
	return nil
}

func (u *useAfterClose) Delete(ctx context.Context, coll, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.data[coll+"\x00"+key]
	delete(u.data, coll+"\x00"+key)
	return ok, nil
}

func (u *useAfterClose) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	if err := ctx.Err(); err != nil {
		return providers.Page{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	var page providers.Page
	for k, v := range u.data {
		if c, key, _ := strings.Cut(k, "\x00"); c == coll && len(page.Items) < q.EffectiveLimit() {
			page.Items = append(page.Items, providers.Item{Key: key, Value: slices.Clone(v)})
		}
	}
	return page, nil
}

func (u *useAfterClose) Ping(ctx context.Context) error { return ctx.Err() }

func (u *useAfterClose) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.data = nil
	return nil
}

// logDB appends every write and delete to a log file and replays it on
// open. kitlog.sync=false never fsyncs (a power loss takes what the page
// cache held); kitlog.buffered=true keeps the appends in memory until Close
// or its 1 MiB buffer fills (a crash of the process takes them: the
// writer the kit kills never gets that far, so every kill loses some).
type logDB struct {
	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	sync     bool
	buffered bool
	data     map[string][]byte
	closed   bool
}

func openLogDB(_ context.Context, cfg providers.DatabaseConfig) (*logDB, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Path == "" {
		return nil, providers.Invalid("bad kitlog URL %q", cfg.URL)
	}
	f, err := os.OpenFile(u.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	db := &logDB{f: f, w: bufio.NewWriterSize(f, 1<<20), data: map[string][]byte{},
		sync: cfg.Settings.String("kitlog.sync") != "false", buffered: cfg.Settings.String("kitlog.buffered") == "true"}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		dec := func(i int) string { b, _ := base64.StdEncoding.DecodeString(f[i]); return string(b) }
		switch {
		case len(f) == 4 && f[0] == "S":
			db.data[dec(1)+"\x00"+dec(2)] = []byte(dec(3))
		case len(f) == 3 && f[0] == "D":
			delete(db.data, dec(1)+"\x00"+dec(2))
		}
	}
	if db.sync {
		if d, err := os.Open(filepath.Dir(u.Path)); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return db, nil
}

func (db *logDB) append(fields ...string) error {
	for i, f := range fields[1:] {
		fields[i+1] = base64.StdEncoding.EncodeToString([]byte(f))
	}
	fmt.Fprintln(db.w, strings.Join(fields, " "))
	if db.buffered {
		return nil
	}
	if err := db.w.Flush(); err != nil {
		return err
	}
	if db.sync {
		return db.f.Sync()
	}
	return nil
}

func (db *logDB) usable(ctx context.Context) error {
	if db.closed {
		return providers.ErrClosed
	}
	return ctx.Err()
}

func (db *logDB) Get(ctx context.Context, coll, key string) ([]byte, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.usable(ctx); err != nil {
		return nil, err
	}
	v, ok := db.data[coll+"\x00"+key]
	if !ok {
		return nil, providers.ErrNotFound
	}
	return slices.Clone(v), nil
}

func (db *logDB) Set(ctx context.Context, coll, key string, v []byte) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.usable(ctx); err != nil {
		return err
	}
	db.data[coll+"\x00"+key] = slices.Clone(v)
	return db.append("S", coll, key, string(v))
}

func (db *logDB) Delete(ctx context.Context, coll, key string) (bool, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.usable(ctx); err != nil {
		return false, err
	}
	_, ok := db.data[coll+"\x00"+key]
	delete(db.data, coll+"\x00"+key)
	return ok, db.append("D", coll, key)
}

func (db *logDB) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.usable(ctx); err != nil {
		return providers.Page{}, err
	}
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	var keys []string
	for k := range db.data {
		if c, key, _ := strings.Cut(k, "\x00"); c == coll && (q.Cursor == "" || key > after) && bytes.Contains(db.data[k], []byte(q.Filter)) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	var page providers.Page
	for i, k := range keys {
		if i == q.EffectiveLimit() {
			page.NextCursor = providers.EncodeKeyCursor(keys[i-1])
			break
		}
		page.Items = append(page.Items, providers.Item{Key: k, Value: slices.Clone(db.data[coll+"\x00"+k])})
	}
	return page, nil
}

func (db *logDB) Ping(ctx context.Context) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.usable(ctx)
}

func (db *logDB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	err := db.w.Flush()
	return errors.Join(err, db.f.Close())
}

// slowBackend is how long the slow call of waitsOnItsLock and
// cacheWaitsOnItsLock holds their lock: far longer than any case waits.
const slowBackend = time.Minute

// slowly waits slowBackend, as a call to a slow backend would, unless ctx
// ends first.
func slowly(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(slowBackend):
		return nil
	}
}

// locker is a lock that calls check their context for on entry, then
// wait for whatever the context says: the bug of waitsOnItsLock and
// cacheWaitsOnItsLock (HonoursContext passes them).
type locker struct{ mu sync.Mutex }

func (l *locker) enter(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock() // the bug: a done context does not end the wait
	return l.mu.Unlock, nil
}

// hold is the slow call: it holds the lock as a call to a slow backend
// would, until its own context ends.
func (l *locker) hold(ctx context.Context) error {
	unlock, err := l.enter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return slowly(ctx)
}

// waitsOnItsLock's Set waits on a lock that its Query, like a scan of a
// slow backend, holds until its own context ends.
type waitsOnItsLock struct {
	providers.Database
	locker
}

func (w *waitsOnItsLock) Set(ctx context.Context, coll, key string, v []byte) error {
	unlock, err := w.enter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return w.Database.Set(ctx, coll, key, v)
}

func (w *waitsOnItsLock) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	if err := w.hold(ctx); err != nil {
		return providers.Page{}, err
	}
	return w.Database.Query(ctx, coll, q)
}

// cacheWaitsOnItsLock is waitsOnItsLock for a cache, whose Clear is the
// slow call.
type cacheWaitsOnItsLock struct {
	providers.Cache
	locker
}

func (w *cacheWaitsOnItsLock) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	unlock, err := w.enter(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return w.Cache.Set(ctx, key, v, ttl)
}

func (w *cacheWaitsOnItsLock) Clear(ctx context.Context) error {
	if err := w.hold(ctx); err != nil {
		return err
	}
	return w.Cache.Clear(ctx)
}
