// Package bolt provides a persistent database on a bbolt file: one bucket per
// collection, writes acknowledged only after their transaction commits, and
// concurrent writes coalesced into shared transactions with bbolt's Batch.
// It implements every optional capability (versions, expiry, atomic
// batches); layout.go describes the file, which navius before versions
// reads too.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/navius-dev/navius/providers"
)

// Options are the bolt provider's config options.
var Options = []providers.Option{
	{Key: "bolt.max_batch_delay", Type: providers.Duration, Default: "2ms",
		Description: "How long a write waits for others to share its transaction (bbolt Batch). Longer batches more writes per fsync under load at the cost of latency."},
	{Key: "bolt.max_batch_size", Type: providers.Int, Default: "1000",
		Description: "Most writes committed in one batched transaction."},
	{Key: "bolt.batch", Type: providers.Bool, Default: "true",
		Description: "Coalesce concurrent writes into shared transactions. Off: one transaction (and fsync) per write."},
	{Key: "bolt.lock_timeout", Type: providers.Duration, Default: "2s",
		Description: "How long to wait for the file lock when another process holds the database open; must be positive."},
}

// Check refuses settings that would not mean what they say: bbolt reads a
// lock timeout of 0 as "wait forever".
func Check(s providers.Settings) error {
	if s.Duration("bolt.lock_timeout") <= 0 {
		return providers.Invalid("bolt.lock_timeout: %q would wait forever for another process's lock; use a positive duration (1ms fails almost at once)", s.String("bolt.lock_timeout"))
	}
	return nil
}

// Config tunes a bolt database.
type Config struct {
	MaxBatchDelay time.Duration
	MaxBatchSize  int
	// NoBatch commits each write in its own transaction.
	NoBatch     bool
	LockTimeout time.Duration
}

// Database is a bbolt-backed database.
type Database struct {
	db      *bbolt.DB
	noBatch bool
}

// OpenDatabase is the registry's opener for bolt:// URLs: bolt://./rel/path.db,
// bolt:///abs/path.db or bolt:relative.db.
func OpenDatabase(_ context.Context, cfg providers.DatabaseConfig) (*Database, error) {
	path, err := PathFromURL(cfg.URL)
	if err != nil {
		return nil, providers.Invalid("database: %v", err)
	}
	s := cfg.Settings
	return Open(path, Config{
		MaxBatchDelay: s.Duration("bolt.max_batch_delay"),
		MaxBatchSize:  s.Int("bolt.max_batch_size"),
		NoBatch:       s.String("bolt.batch") != "" && !s.Bool("bolt.batch"),
		LockTimeout:   s.Duration("bolt.lock_timeout"),
	})
}

// PathFromURL extracts the file path of a bolt URL.
func PathFromURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "bolt") {
		return "", providers.Invalid("bad bolt URL %q: use bolt://./data/navius.db or bolt:///var/lib/navius/data.db", providers.Redact(raw))
	}
	var path string
	switch {
	case u.Opaque != "": // bolt:data.db
		path = u.Opaque
	case u.Host != "": // bolt://./data/navius.db parses "." as the host
		path = u.Host + u.Path
	default: // bolt:///abs/path.db
		path = u.Path
	}
	if path == "" || strings.HasSuffix(path, "/") {
		return "", providers.Invalid("bolt URL %q names no file: use bolt://./data/navius.db or bolt:///var/lib/navius/data.db", providers.Redact(raw))
	}
	return filepath.Clean(path), nil
}

// Open opens (creating if needed) the database file at path, and its
// directory.
func Open(path string, cfg Config) (*Database, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("database: create directory for %s: %w", path, err)
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 2 * time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: cfg.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("database: %s is locked by another process (waited %s); stop it or use another file", path, cfg.LockTimeout)
	}
	if err != nil {
		return nil, openError(path, err)
	}
	if cfg.MaxBatchDelay > 0 {
		db.MaxBatchDelay = cfg.MaxBatchDelay
	}
	if cfg.MaxBatchSize > 0 {
		db.MaxBatchSize = cfg.MaxBatchSize
	}
	return &Database{db: db, noBatch: cfg.NoBatch}, nil
}

// Path is the database file.
func (d *Database) Path() string { return d.db.Path() }

// update runs fn in a write transaction: batched with concurrent writers
// unless batching is off. Under Batch, fn may run more than once, and runs
// again alone when it fails. fn returns a failed precondition (nothing
// written) as its error; update hands it to the caller without failing the
// transaction, which under Batch would make bbolt run every other write of
// the batch again.
func (d *Database) update(fn func(*bbolt.Tx) error) error {
	var failed error
	run := func(tx *bbolt.Tx) error {
		failed = nil
		err := fn(tx)
		if !errors.Is(err, providers.ErrPrecondition) {
			return err
		}
		failed = err
		if d.noBatch {
			return err // roll back rather than commit (and fsync) nothing
		}
		return nil
	}
	var err error
	if d.noBatch {
		err = d.db.Update(run)
	} else {
		err = d.db.Batch(run)
	}
	if failed != nil {
		return failed
	}
	return mapErr(err)
}

func (d *Database) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(d.db.View(func(*bbolt.Tx) error { return nil }))
}

func (d *Database) Close() error { return d.db.Close() }

func mapErr(err error) error {
	switch {
	case err == nil, errors.Is(err, providers.ErrNotFound), errors.Is(err, providers.ErrInvalid),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return providers.ErrClosed
	case errors.Is(err, bolterrors.ErrBucketNameRequired), errors.Is(err, bolterrors.ErrKeyRequired),
		errors.Is(err, bolterrors.ErrKeyTooLarge), errors.Is(err, bolterrors.ErrValueTooLarge):
		return providers.Invalid("%v", err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// bbolt rolls the transaction back: nothing was written. Even a
		// delete writes (its pages are copied), so it may fail too.
		return fmt.Errorf("%w: the disk of the database file is full (%v): free space on it; bolt writes again once there is room", providers.ErrFull, err)
	case errors.Is(err, syscall.EROFS):
		return providers.Unavailable("database", fmt.Errorf("the file system of the database file is read-only (%v): remount it read-write", err))
	}
	return providers.Unavailable("database", err)
}
