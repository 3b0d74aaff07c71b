package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Sweep implements providers.Expiring: one DELETE of up to limit expired
// rows, found through the partial index on expires_at. Expired rows are
// invisible to every reader already (each statement filters on the
// server's clock); the sweep only reclaims their space. Rows another
// instance's sweep (or a write) holds are skipped, not waited for. The
// removals are announced like deletes, marked as expiries, per
// postgres.notify.
func (d *Database) Sweep(ctx context.Context, limit int) (int, error) {
	return d.SweepKeys(ctx, limit, nil)
}

// SweepKeys implements providers.ExpiryReporter: Sweep, naming each entry
// it removed (once the removal is committed).
func (d *Database) SweepKeys(ctx context.Context, limit int, removed func(collection, key string)) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var gone []name
	err := d.do(ctx, func() error {
		gone = gone[:0]
		if d.st.notify != notifyWithWrite {
			return d.sweep(ctx, d.pool, limit, &gone)
		}
		return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			if err := d.sweep(ctx, tx, limit, &gone); err != nil {
				return err
			}
			return d.notify(ctx, tx, gone, true)
		})
	})
	if err != nil {
		return 0, err
	}
	if removed != nil {
		for _, n := range gone {
			removed(n.coll, n.key)
		}
	}
	if d.st.notify == notifyAfterWrite && len(gone) > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
		defer cancel()
		if err := d.do(ctx, func() error { return d.notify(ctx, d.pool, gone, true) }); err != nil {
			// Other instances' caches keep each entry's expiry too, so
			// nothing is served stale; the sweeper reports the failure.
			return len(gone), fmt.Errorf("removed %d expired entries, but could not announce it: %w", len(gone), err)
		}
	}
	return len(gone), nil
}

// querier runs a query on the pool or in a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (d *Database) sweep(ctx context.Context, q querier, limit int, gone *[]name) error {
	rows, err := q.Query(ctx, d.sql.sweep, limit)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n name
		if err := rows.Scan(&n.coll, &n.key); err != nil {
			return err
		}
		*gone = append(*gone, n)
	}
	return rows.Err()
}
