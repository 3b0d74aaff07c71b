package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/navius-dev/navius/providers"
)

// live is true for a row that has not expired. Expiry is decided by the
// server's clock (now(), the time its transaction started), so every
// instance sees an entry expire at the same moment, before any sweep.
const live = "(expires_at IS NULL OR expires_at > now())"

// statements are the provider's SQL, made once for the table and notify
// mode. A writing statement comes in two forms: bare, for use inside a
// transaction that announces its changes itself (batches), and single,
// which in notify mode with_write carries its own pg_notify.
//
// Every write stores a new version made by navius (providers.NewVersion,
// passed as a parameter: xmin or a transaction id would change on a dump
// and restore or a VACUUM FREEZE) and the expiry computed by the server
// from a time to live (an interval parameter; NULL for none). A condition
// is part of the writing statement, so the database decides it atomically
// with the write: whether the statement wrote a row tells whether it held.
type statements struct {
	get, version, page, filteredPage string
	lock, sweep                      string
	// The writes: parameters $1 collection, $2 key, then as noted.
	put      write // $3 value, $4 version, $5 TTL: upsert
	create   write // as put: inserts, or replaces an expired row only
	update   write // as put, $6 versions (NULL: any): updates a live row
	remove   write // deletes any row, returns whether it was live
	removeIf write // $3 versions (NULL: any): deletes a live row
}

type write struct{ bare, single string }

func (d *Database) prepare() {
	t := d.st.table.sql()
	d.sql.get = "SELECT value, version, expires_at FROM " + t + " WHERE collection = $1 AND key = $2 AND " + live
	d.sql.version = "SELECT version FROM " + t + " WHERE collection = $1 AND key = $2 AND " + live
	page := "SELECT key, value, version FROM " + t + " WHERE collection = $1 AND key > $2 AND " + live
	d.sql.page = page + " ORDER BY key LIMIT $3"
	d.sql.filteredPage = page + " AND position($4::bytea IN value) > 0 ORDER BY key LIMIT $3"

	const values = " (collection, key, value, version, expires_at, updated_at) VALUES ($1, $2, $3, $4, now() + $5::interval, now())"
	const set = " SET value = EXCLUDED.value, version = EXCLUDED.version, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at"
	upsert := "INSERT INTO " + t + " AS e" + values + " ON CONFLICT (collection, key) DO UPDATE" + set
	d.sql.put = d.writing(upsert, 5)
	d.sql.create = d.writing(upsert+" WHERE e.expires_at <= now()", 5)
	d.sql.update = d.writing("UPDATE "+t+" SET value = $3, version = $4, expires_at = now() + $5::interval, updated_at = now()"+
		" WHERE collection = $1 AND key = $2 AND "+live+" AND ($6::bigint[] IS NULL OR version = ANY($6::bigint[]))", 6)
	d.sql.removeIf = d.writing("DELETE FROM "+t+" WHERE collection = $1 AND key = $2 AND "+live+
		" AND ($3::bigint[] IS NULL OR version = ANY($3::bigint[]))", 3)
	del := "DELETE FROM " + t + " WHERE collection = $1 AND key = $2"
	d.sql.remove = write{bare: del + " RETURNING " + live, single: del + " RETURNING " + live}
	if d.st.notify == notifyWithWrite {
		// The data-modifying WITH runs once; pg_notify runs only for a
		// row it returned, and the notification goes out at commit.
		d.sql.remove.single = "WITH w AS (" + del + " RETURNING " + live + " AS live) SELECT w.live, pg_notify($3, $4) FROM w"
	}

	// A batch locks the rows of its keys that exist and reads what its
	// conditions need (its key locks, taken before, order it against
	// other batches).
	d.sql.lock = "SELECT k.i, e.version, " + live + " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(collection, key, i)" +
		" JOIN " + t + " AS e ON e.collection = k.collection AND e.key = k.key FOR UPDATE OF e"
	// The sweep deletes a bounded chunk of expired rows through the
	// partial index; SKIP LOCKED lets several instances sweep at once
	// without waiting on each other.
	d.sql.sweep = "DELETE FROM " + t + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + t +
		" WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED)) AND expires_at <= now() RETURNING collection, key"
}

// writing makes the two forms of a writing statement with n parameters; in
// notify mode with_write the single form announces the row it wrote
// ($n+1 channel, $n+2 payload).
func (d *Database) writing(stmt string, n int) write {
	w := write{bare: stmt, single: stmt}
	if d.st.notify == notifyWithWrite {
		w.single = fmt.Sprintf("WITH w AS (%s RETURNING 1) SELECT pg_notify($%d, $%d) FROM w", stmt, n+1, n+2)
	}
	return w
}

// ttl is the TTL parameter: an interval, NULL for none. pgx sends whole
// microseconds, so a TTL under one becomes one.
func ttl(d time.Duration) any {
	if d <= 0 {
		return nil
	}
	return max(d, time.Microsecond)
}

// versions is the parameter of a condition's versions: NULL when it has
// none (any version will do), else those it names that navius could have
// made (the others match nothing).
func versions(c providers.Condition) []int64 {
	if len(c.Match) == 0 {
		return nil
	}
	out := make([]int64, 0, len(c.Match))
	for _, m := range c.Match {
		if v, ok := providers.ParseVersion(m); ok {
			out = append(out, int64(v))
		}
	}
	return out
}

// exec runs a single write on coll/key and announces it when it wrote a
// row; it reports whether it did.
func (d *Database) exec(ctx context.Context, w write, coll, key string, args ...any) (bool, error) {
	if d.st.notify == notifyWithWrite {
		ch, payload := d.feed.announce(coll, key)
		args = append(args, ch, payload)
	}
	var tag pgconn.CommandTag
	err := d.do(ctx, func() (err error) {
		tag, err = d.pool.Exec(ctx, w.single, args...)
		return err
	})
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, d.announce(ctx, coll, key)
}

func checkNames(coll, key string) error {
	return errors.Join(checkName("collection", coll), checkName("key", key))
}

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	e, err := d.GetEntry(ctx, coll, key)
	return e.Value, err
}

// GetEntry implements providers.Versioned: one SELECT of a live row.
func (d *Database) GetEntry(ctx context.Context, coll, key string) (providers.Entry, error) {
	if err := checkNames(coll, key); err != nil {
		return providers.Entry{}, err
	}
	row := &struct { // the scan's destinations, in one allocation
		value   []byte
		version int64
		expires pgtype.Timestamptz
	}{}
	err := d.do(ctx, func() error {
		return d.pool.QueryRow(ctx, d.sql.get, coll, key).Scan(&row.value, &row.version, &row.expires)
	})
	if err != nil {
		return providers.Entry{}, err
	}
	e := providers.Entry{Value: row.value, Version: providers.FormatVersion(uint64(row.version))}
	if e.Value == nil {
		e.Value = []byte{}
	}
	if row.expires.Valid {
		e.ExpiresAt = row.expires.Time
	}
	return e, nil
}

// Set is one upsert, announced to the other instances.
func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	_, err := d.put(ctx, coll, key, value, providers.Write{})
	return err
}

// Put implements providers.Versioned and providers.Expiring: one
// statement, announced to the other instances when it wrote. Without a
// condition it is an upsert; If-Match (versions, or any version) is an
// UPDATE of the live row; create-only is an insert that may replace only an
// expired row. When the condition fails, the entry's current version is
// read for the error (after the failed write, not atomically with it).
func (d *Database) Put(ctx context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	version, err := d.put(ctx, coll, key, value, w)
	if version == 0 {
		return "", err
	}
	return providers.FormatVersion(version), err
}

// put returns the version written (0 when nothing was).
func (d *Database) put(ctx context.Context, coll, key string, v []byte, w providers.Write) (uint64, error) {
	if err := checkNames(coll, key); err != nil {
		return 0, err
	}
	version := providers.NewVersion()
	args := []any{coll, key, value(v), int64(version), ttl(w.TTL)}
	c := w.Condition
	stmt := d.sql.put
	switch {
	case c.MustNotExist && (c.MustExist || len(c.Match) > 0):
		return 0, d.precondition(ctx, coll, key) // can never hold
	case c.MustNotExist:
		stmt = d.sql.create
	case c.MustExist || len(c.Match) > 0:
		stmt = d.sql.update
		args = append(args, versions(c))
	}
	wrote, err := d.exec(ctx, stmt, coll, key, args...)
	switch {
	case wrote:
		return version, err
	case err != nil:
		return 0, err
	case c.IsZero():
		return 0, providers.Unavailable("database", errors.New("an upsert wrote no row"))
	}
	return 0, d.precondition(ctx, coll, key)
}

// precondition is the error of a failed condition: it reads whether the
// entry exists, and its version.
func (d *Database) precondition(ctx context.Context, coll, key string) error {
	var version int64
	err := d.do(ctx, func() error { return d.pool.QueryRow(ctx, d.sql.version, coll, key).Scan(&version) })
	switch {
	case errors.Is(err, providers.ErrNotFound):
		return providers.Precondition(false, "")
	case err != nil:
		return err
	}
	return providers.Precondition(true, providers.FormatVersion(uint64(version)))
}

// Delete removes the row and, when there was one, announces it.
func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	return d.Remove(ctx, coll, key, providers.Condition{})
}

// Remove implements providers.Versioned. Without a condition it deletes
// the row, expired or not, and reports whether it was live; with If-Match
// it deletes the live row with one of the versions. If-None-Match: * holds
// only where there is no live entry, so there is nothing to delete: it is
// a read.
func (d *Database) Remove(ctx context.Context, coll, key string, cond providers.Condition) (bool, error) {
	if err := checkNames(coll, key); err != nil {
		return false, err
	}
	switch {
	case cond.MustNotExist:
		err := d.precondition(ctx, coll, key)
		var pe *providers.PreconditionError
		if errors.As(err, &pe) && cond.Holds(pe.Exists, pe.Version) {
			return false, nil
		}
		return false, err
	case !cond.IsZero():
		removed, err := d.exec(ctx, d.sql.removeIf, coll, key, coll, key, versions(cond))
		if removed || err != nil {
			return removed, err
		}
		return false, d.precondition(ctx, coll, key)
	}
	args := []any{coll, key}
	if d.st.notify == notifyWithWrite {
		ch, payload := d.feed.announce(coll, key)
		args = append(args, ch, payload)
	}
	var wasLive bool
	err := d.do(ctx, func() error {
		if d.st.notify == notifyWithWrite {
			return d.pool.QueryRow(ctx, d.sql.remove.single, args...).Scan(&wasLive, nil)
		}
		return d.pool.QueryRow(ctx, d.sql.remove.single, args...).Scan(&wasLive)
	})
	if errors.Is(err, providers.ErrNotFound) {
		return false, nil // no row
	}
	if err != nil {
		return false, err
	}
	return wasLive, d.announce(ctx, coll, key)
}

// Query reads one page of live rows in key order after the cursor's key
// (keyset paging on the primary key), so a walk sees every row that exists
// throughout it exactly once whatever changes between pages. The page ends
// at q.Limit rows or, before, at q.MaxBytes of keys and values.
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	if err := checkName("collection", coll); err != nil {
		return providers.Page{}, err
	}
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err == nil && checkName("cursor", after) != nil {
		err = providers.Invalid("malformed cursor %.40q: pass back the next_cursor of the previous page", q.Cursor)
	}
	if err != nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	var page providers.Page
	err = d.do(ctx, func() error {
		page = providers.Page{}
		var rows pgx.Rows
		var err error
		if q.Filter == "" {
			rows, err = d.pool.Query(ctx, d.sql.page, coll, after, limit+1)
		} else {
			rows, err = d.pool.Query(ctx, d.sql.filteredPage, coll, after, limit+1, []byte(q.Filter))
		}
		if err != nil {
			return err
		}
		defer rows.Close()
		var size int64
		for rows.Next() {
			if err := ctx.Err(); err != nil { // rows already read are not a reason to go on
				return err
			}
			var it providers.Item
			var version int64
			if err := rows.Scan(&it.Key, &it.Value, &version); err != nil {
				return err
			}
			n := int64(len(it.Key) + len(it.Value))
			if q.MaxBytes > 0 && len(page.Items) > 0 && size+n > q.MaxBytes {
				// The page is full by bytes: the rest of the rows are
				// discarded as they arrive, never held.
				page.NextCursor = providers.EncodeKeyCursor(page.Items[len(page.Items)-1].Key)
				return nil
			}
			size += n
			it.Version = providers.FormatVersion(uint64(version))
			page.Items = append(page.Items, it)
		}
		return rows.Err()
	})
	if err != nil {
		return providers.Page{}, err
	}
	if len(page.Items) > limit { // one row more than asked: there is a next page
		page.Items = page.Items[:limit]
		page.NextCursor = providers.EncodeKeyCursor(page.Items[limit-1].Key)
	}
	return page, nil
}
