package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/navius-dev/navius/providers"
)

// batchAttempts bounds how often a batch is run again after PostgreSQL
// aborted its transaction to break a deadlock or a serialization conflict
// (nothing of it was written).
const batchAttempts = 3

// Apply implements providers.Batcher in one transaction: it takes a lock
// per key (a transaction-level advisory lock, in one global order, so that
// batches sharing keys queue instead of deadlocking, whether or not the
// keys have rows yet), locks the rows that exist (SELECT ... FOR UPDATE),
// decides every condition on what it locked, then applies the operations
// in one round trip, and commits. Concurrent readers see the batch whole
// or not at all. The changes are announced per postgres.notify, in the
// transaction (with_write) or after the commit (after_write).
func (d *Database) Apply(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	if err := providers.CheckBatch(ops); err != nil {
		return nil, err
	}
	b := batch{ops: ops, colls: make([]string, len(ops)), keys: make([]string, len(ops)),
		locks: make([]int64, len(ops)), versions: make([]uint64, len(ops))}
	for i, op := range ops {
		if err := checkNames(op.Collection, op.Key); err != nil {
			return nil, err
		}
		b.colls[i], b.keys[i], b.locks[i] = op.Collection, op.Key, d.st.table.keyLock(op.Collection, op.Key)
		if !op.Delete {
			b.versions[i] = providers.NewVersion()
		}
	}
	slices.Sort(b.locks)
	for attempt := 1; ; attempt++ {
		var raw error
		err := d.do(ctx, func() error { raw = d.applyTx(ctx, &b); return raw })
		if err == nil {
			break
		}
		if !aborted(raw) || attempt == batchAttempts || ctx.Err() != nil {
			return nil, err
		}
	}
	if b.failed != nil && b.raced {
		// The entry as it is now, read after the rollback.
		op := b.failed.Op
		if err := d.precondition(ctx, b.colls[op], b.keys[op]); !errors.As(err, &b.failed) {
			return nil, err
		}
		b.failed.Op = op
	}
	if b.failed != nil {
		return nil, b.failed
	}
	return b.results, d.announceAll(ctx, b.changed)
}

// batch is one Apply: its operations, and the outcome of its last attempt.
type batch struct {
	ops         []providers.BatchOp
	colls, keys []string
	locks       []int64  // the keys' advisory locks, in the order to take them
	versions    []uint64 // new versions of the puts

	// failed tells which condition failed, with the entry as the batch
	// locked it; raced, that it failed in the write because the key gained
	// a row after the lock (the entry is then read afresh).
	failed  *providers.PreconditionError
	raced   bool
	results []providers.BatchResult
	changed []name // rows written, to announce
}

// applyTx runs the batch's transaction once. A failed condition rolls it
// back and sets b.failed.
func (d *Database) applyTx(ctx context.Context, b *batch) error {
	b.failed, b.raced, b.results, b.changed = nil, false, nil, nil
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op

	// Lock the keys, then the rows that exist, and decide every condition
	// in operation order.
	type state struct {
		exists  bool
		version string
	}
	now := make([]state, len(b.ops))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(l) FROM unnest($1::bigint[]) AS l", b.locks); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, d.sql.lock, b.colls, b.keys)
	if err != nil {
		return err
	}
	for rows.Next() {
		var i, version int64
		var isLive bool
		if err := rows.Scan(&i, &version, &isLive); err != nil {
			rows.Close()
			return err
		}
		if isLive {
			now[i-1] = state{true, providers.FormatVersion(uint64(version))}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, op := range b.ops {
		if !op.Condition.Holds(now[i].exists, now[i].version) {
			b.failed = &providers.PreconditionError{Op: i, Exists: now[i].exists, Version: now[i].version}
			return nil
		}
	}

	// Apply, in one round trip. The locked rows cannot change; a key
	// without a row can gain one meanwhile from a single write (which
	// takes no key lock), so create-only puts keep their condition in the
	// statement, and a delete that requires no entry deletes nothing
	// (there is no live entry to delete).
	q := &pgx.Batch{}
	for i, op := range b.ops {
		switch {
		case op.Delete && op.MustNotExist:
		case op.Delete:
			q.Queue(d.sql.remove.bare, op.Collection, op.Key)
		case op.MustNotExist:
			q.Queue(d.sql.create.bare, op.Collection, op.Key, value(op.Value), int64(b.versions[i]), ttl(op.TTL))
		default:
			q.Queue(d.sql.put.bare, op.Collection, op.Key, value(op.Value), int64(b.versions[i]), ttl(op.TTL))
		}
	}
	results := make([]providers.BatchResult, len(b.ops))
	var changed []name
	br := tx.SendBatch(ctx, q)
	for i, op := range b.ops {
		switch {
		case op.Delete && op.MustNotExist:
			continue
		case op.Delete:
			err := br.QueryRow().Scan(&results[i].Existed)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // no row
			}
			if err != nil {
				br.Close()
				return err
			}
		default:
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.RowsAffected() == 0 { // created meanwhile
				br.Close()
				b.failed, b.raced = &providers.PreconditionError{Op: i}, true
				return nil
			}
			results[i].Version = providers.FormatVersion(b.versions[i])
		}
		changed = append(changed, name{op.Collection, op.Key})
	}
	if err := br.Close(); err != nil {
		return err
	}
	if d.st.notify == notifyWithWrite {
		if err := d.notify(ctx, tx, changed, false); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	b.results, b.changed = results, changed
	return nil
}

// value is a value as stored: the column is NOT NULL, and pgx would send
// nil as NULL.
func value(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// aborted reports whether PostgreSQL rolled a transaction back to break a
// deadlock or a serialization conflict, so that running it again may work.
func aborted(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}
