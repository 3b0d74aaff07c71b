// Package fsdb is a navius database provider that keeps every key in a file
// of its own: <dir>/c-<collection>/k-<key>, names encoded so that any
// string is a safe, distinct file name on any file system (case-insensitive
// ones included) and so that file name order is key order.
//
// A write goes to a temporary file that is fsynced, renamed over the key's
// file and followed by an fsync of the directory; only then does Set (or
// Delete, which removes the file and fsyncs the directory) return. A reader
// sees the old value or the new one, never a torn file. Query walks a
// collection in key order with an opaque cursor.
//
// Importing the package registers the provider for fsdb:// URLs:
//
//	database:
//	  url: fsdb:///var/lib/navius/data   # or fsdb://./data for a relative directory
//
// It is the example of docs/PROVIDERS.md ("Writing a provider") and a
// module of its own, built into navius with
// `navius build --with example.com/navius-fsdb=./examples/fsdb`.
package fsdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/navius-dev/navius/providers"
)

// Name is the provider's name, and Scheme the URL scheme it opens.
const (
	Name   = "fsdb"
	Scheme = "fsdb"
)

// Options are the provider's config options; navius validates them, sets
// them from NAVIUS_FSDB_* variables and serve flags, and documents them.
var Options = []providers.Option{
	{Key: "fsdb.sync", Type: providers.Bool, Default: "true",
		Description: "fsync each written file and its directory before acknowledging a write or delete. false trades durability on power loss for speed (scratch data, tests)."},
}

// Registration runs when navius's build imports the package (and in this
// package's tests), like a database/sql driver's.
func init() {
	providers.RegisterDatabase(Name, []string{Scheme}, OpenDatabase)
	providers.DeclareOptions(Name, Options...)
}

// OpenDatabase is the registry's opener: it reads the directory from the
// URL and the fsdb.* settings.
func OpenDatabase(_ context.Context, cfg providers.DatabaseConfig) (*DB, error) {
	dir, err := DirFromURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	// Unset means the declared default (true): a caller that builds
	// Settings by hand need not know it.
	durable := cfg.Settings.String("fsdb.sync") == "" || cfg.Settings.Bool("fsdb.sync")
	return Open(dir, Config{NoSync: !durable})
}

// DirFromURL extracts the directory of fsdb:///abs/dir, fsdb://./rel/dir or
// fsdb:rel/dir.
func DirFromURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, Scheme) {
		return "", providers.Invalid("bad fsdb URL %q: use fsdb:///var/lib/navius/data or fsdb://./data", providers.Redact(raw))
	}
	var dir string
	switch {
	case u.Opaque != "": // fsdb:data
		dir = u.Opaque
	case u.Host != "": // fsdb://./data parses "." as the host
		dir = u.Host + u.Path
	default: // fsdb:///abs/data
		dir = u.Path
	}
	if dir == "" || u.RawQuery != "" {
		return "", providers.Invalid("fsdb URL %q names no directory: use fsdb:///var/lib/navius/data or fsdb://./data", providers.Redact(raw))
	}
	return filepath.Clean(dir), nil
}

// Config tunes a database.
type Config struct {
	// NoSync skips the fsyncs (fsdb.sync: false).
	NoSync bool
}

// DB is an open filesystem database.
type DB struct {
	root string
	// sync makes a file's or a directory's contents durable; tests
	// replace it to see the order of the fsyncs.
	sync   func(f *os.File) error
	closed atomic.Bool
	// durableDirs are collection directories whose entry in root is known
	// to be on disk.
	durableDirs sync.Map
}

// Open opens (creating it when missing) the database in dir.
func Open(dir string, cfg Config) (*DB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fsdb: can't create %s: %w (create it, or point database.url at a writable directory)", dir, unwrapPath(err))
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("fsdb: %w", err)
	}
	if !st.IsDir() {
		return nil, providers.Invalid("fsdb: %s is not a directory: point database.url at a directory", dir)
	}
	db := &DB{root: dir, sync: (*os.File).Sync}
	if cfg.NoSync {
		db.sync = func(*os.File) error { return nil }
	}
	return db, nil
}

// Dir is the database's directory.
func (db *DB) Dir() string { return db.root }

func (db *DB) usable(ctx context.Context) error {
	if db.closed.Load() {
		return fmt.Errorf("fsdb: %w", providers.ErrClosed)
	}
	return ctx.Err()
}

// Get implements providers.Database.
func (db *DB) Get(ctx context.Context, collection, key string) ([]byte, error) {
	if err := db.usable(ctx); err != nil {
		return nil, err
	}
	path, err := db.keyPath(collection, key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, providers.ErrNotFound
	}
	if err != nil {
		return nil, providers.Unavailable("fsdb", unwrapPath(err))
	}
	return data, nil
}

// Set implements providers.Database: temporary file, fsync, rename,
// directory fsync, then acknowledge.
func (db *DB) Set(ctx context.Context, collection, key string, value []byte) error {
	if err := db.usable(ctx); err != nil {
		return err
	}
	path, err := db.keyPath(collection, key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := db.ensureCollection(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(value); err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	if err := db.sync(tmp); err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	if err := tmp.Close(); err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	committed = true
	return db.syncDir(dir)
}

// Delete implements providers.Database: the file is removed and the
// directory fsynced before Delete reports that the key existed.
func (db *DB) Delete(ctx context.Context, collection, key string) (bool, error) {
	if err := db.usable(ctx); err != nil {
		return false, err
	}
	path, err := db.keyPath(collection, key)
	if err != nil {
		return false, err
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, providers.Unavailable("fsdb", unwrapPath(err))
	}
	return true, db.syncDir(filepath.Dir(path))
}

// Query implements providers.Database. File names sort like their keys, so
// a directory listing is already in key order; the cursor is the last key
// returned.
func (db *DB) Query(ctx context.Context, collection string, q providers.Query) (providers.Page, error) {
	if err := db.usable(ctx); err != nil {
		return providers.Page{}, err
	}
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	cdir, err := encodeName(collectionPrefix, collection)
	if err != nil {
		return providers.Page{}, err
	}
	dir := filepath.Join(db.root, cdir)
	entries, err := os.ReadDir(dir) // sorted by file name
	if errors.Is(err, fs.ErrNotExist) {
		return providers.Page{}, nil
	}
	if err != nil {
		return providers.Page{}, providers.Unavailable("fsdb", unwrapPath(err))
	}
	start := 0
	if q.Cursor != "" {
		from := keyPrefix + nameEncoding.EncodeToString([]byte(after))
		start = sort.Search(len(entries), func(i int) bool { return entries[i].Name() > from })
	}
	limit := q.EffectiveLimit()
	var page providers.Page
	for i := start; i < len(entries); i++ {
		key, ok := decodeName(keyPrefix, entries[i].Name())
		if !ok || entries[i].IsDir() {
			continue // a temporary file of a write in progress, or not ours
		}
		value, err := os.ReadFile(filepath.Join(dir, entries[i].Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the listing
		}
		if err != nil {
			return providers.Page{}, providers.Unavailable("fsdb", unwrapPath(err))
		}
		if !bytes.Contains(value, []byte(q.Filter)) {
			continue
		}
		page.Items = append(page.Items, providers.Item{Key: key, Value: value})
		if len(page.Items) == limit {
			if i+1 < len(entries) {
				page.NextCursor = providers.EncodeKeyCursor(key)
			}
			break
		}
	}
	return page, nil
}

// Ping implements providers.Database: the directory is still there.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.usable(ctx); err != nil {
		return err
	}
	st, err := os.Stat(db.root)
	if err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	if !st.IsDir() {
		return providers.Unavailable("fsdb", fmt.Errorf("%s is no longer a directory", db.root))
	}
	return nil
}

// Close implements providers.Database. Every acknowledged write is already
// on disk, so there is nothing to flush.
func (db *DB) Close() error {
	db.closed.Store(true)
	return nil
}

// keyPath is the file of collection/key.
func (db *DB) keyPath(collection, key string) (string, error) {
	c, err := encodeName(collectionPrefix, collection)
	if err != nil {
		return "", err
	}
	k, err := encodeName(keyPrefix, key)
	if err != nil {
		return "", err
	}
	return filepath.Join(db.root, c, k), nil
}

// ensureCollection creates a collection's directory and makes its entry in
// the root durable, once per directory and process.
func (db *DB) ensureCollection(dir string) error {
	if _, ok := db.durableDirs.Load(dir); ok {
		return nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	// Also when another writer created it: that writer may not have
	// synced the root yet.
	if err := db.syncDir(db.root); err != nil {
		return err
	}
	db.durableDirs.Store(dir, true)
	return nil
}

func (db *DB) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return providers.Unavailable("fsdb", unwrapPath(err))
	}
	defer d.Close()
	if err := db.sync(d); err != nil {
		return providers.Unavailable("fsdb", fmt.Errorf("fsync %s: %w", dir, unwrapPath(err)))
	}
	return nil
}

// unwrapPath drops the *PathError wrapper's operation when the path is in
// the message already, keeping errors one short line.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return err
}
