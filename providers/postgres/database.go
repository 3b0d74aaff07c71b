package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/navius-dev/navius/providers"
)

// Database keeps every collection in one table, keyed by (collection, key),
// each row with its version and expiry time (schema version 2, see
// SchemaVersion). Writes and deletes are announced on the table's NOTIFY
// channel, so that other instances drop their cached copies (see
// postgres.notify). It implements every optional capability: versions and
// conditional writes (providers.Versioned), expiry decided by the
// server's clock (providers.Expiring) and batches in one transaction
// (providers.Batcher).
type Database struct {
	pool   *pgxpool.Pool
	st     settings
	feed   *feed
	closed atomic.Bool
	sql    statements
}

var (
	_ providers.Versioned = (*Database)(nil)
	_ providers.Expiring  = (*Database)(nil)
	_ providers.Batcher   = (*Database)(nil)

	_ providers.ExpiryReporter     = (*Database)(nil)
	_ providers.DetailedChangeFeed = (*Database)(nil)
)

// OpenDatabase is the registry's opener for postgres:// and postgresql://
// URLs. It connects once before it returns: a wrong password, a missing
// database or a table of another shape fail the start with a one-line
// error (ErrInvalid: a configuration error), a server that cannot be
// reached with ErrUnavailable. The table is created when absent (unless
// postgres.create_table is false).
func OpenDatabase(ctx context.Context, cfg providers.DatabaseConfig) (*Database, error) {
	st, err := readSettings(cfg)
	if err != nil {
		return nil, err
	}
	pc, err := poolConfig(cfg, &st)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc) // connects lazily
	if err != nil {
		return nil, providers.Invalid("postgres: %s", st.scrub(oneLine(err.Error())))
	}
	d := &Database{pool: pool, st: st}
	d.prepare()
	if err := d.start(ctx, cfg.Timeout, pc.ConnConfig); err != nil {
		pool.Close()
		return nil, err
	}
	d.feed = newFeed(pc.ConnConfig, st.table.String(), st.fallbackTTL)
	return d, nil
}

// start makes the first connection and checks (or creates, or upgrades)
// the schema.
func (d *Database) start(ctx context.Context, opTimeout time.Duration, cc *pgx.ConnConfig) error {
	check, cancel := context.WithTimeout(ctx, d.st.connTimeout+max(opTimeout, 5*time.Second))
	defer cancel()
	conn, err := d.pool.Acquire(check)
	if err != nil {
		return d.st.startupError(cc, err)
	}
	defer conn.Release()
	if err := d.ensureSchema(ctx, check, conn.Conn()); err != nil {
		if errors.Is(err, providers.ErrInvalid) {
			return err
		}
		return providers.Unavailable("postgres", fmt.Errorf("checking table %s: %s", d.st.table, d.st.scrub(oneLine(err.Error()))))
	}
	return nil
}

// announceTimeout bounds a NOTIFY sent after a write: it goes out even when
// the request that wrote has gone away.
const announceTimeout = 2 * time.Second

// announce tells the other instances about a committed write (notify mode
// after_write). A NOTIFY-only transaction writes no WAL before its commit,
// so PostgreSQL does not wait for a flush while it holds the lock that
// orders notifications. When the NOTIFY fails, the write stands but the
// caller learns that other instances may keep the old value, and this
// instance's own cache drops it.
func (d *Database) announce(ctx context.Context, coll, key string) error {
	return d.announceAll(ctx, []name{{coll, key}})
}

// announceAll is announce for several writes (a batch's), in one
// statement.
func (d *Database) announceAll(ctx context.Context, changed []name) error {
	if d.st.notify != notifyAfterWrite {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), announceTimeout)
	defer cancel()
	err := d.do(ctx, func() error { return d.notify(ctx, d.pool, changed, false) })
	if err != nil {
		for _, n := range changed {
			d.feed.Deliver(n.coll, n.key)
		}
		return providers.Unavailable("database", fmt.Errorf("written, but other instances could not be told to drop their cached copies (repeat the request): %v", err))
	}
	return nil
}

// name is an entry's collection and key.
type name struct{ coll, key string }

// execer runs a statement on the pool or in a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// notify sends one notification per changed entry, in one statement.
func (d *Database) notify(ctx context.Context, q execer, changed []name, expired bool) error {
	if len(changed) == 0 {
		return nil
	}
	if len(changed) == 1 {
		_, err := q.Exec(ctx, "SELECT pg_notify($1, $2)", d.feed.Channel, d.feed.payload(changed[0].coll, changed[0].key, expired))
		return err
	}
	payloads := make([]string, len(changed))
	for i, n := range changed {
		payloads[i] = d.feed.payload(n.coll, n.key, expired)
	}
	_, err := q.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", d.feed.Channel, payloads)
	return err
}

// checkName refuses what a text column cannot hold.
func checkName(what, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return providers.Invalid("%s %q cannot be stored in PostgreSQL: use valid UTF-8 without NUL bytes", what, s)
	}
	return nil
}

// pingTimeout bounds the health round trip: a server that takes longer to
// answer a trivial query is reported down, so that a hung server shows in
// readiness as quickly as a stopped one.
const pingTimeout = 500 * time.Millisecond

// Ping runs a trivial query on a pooled connection.
func (d *Database) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := d.do(ctx, func() error {
		var one int
		return d.pool.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return providers.Unavailable("database", fmt.Errorf("no answer to SELECT 1 within %s", pingTimeout))
	}
	return err
}

// Close stops the change feed and closes the pool.
func (d *Database) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.feed.Close()
	d.pool.Close()
	return nil
}

// do runs one statement, once more when it failed in a way that left the
// statement unexecuted (a pooled connection that died before it was sent,
// or whose backend was terminated), and maps the error.
func (d *Database) do(ctx context.Context, fn func() error) error {
	if d.closed.Load() {
		return providers.ErrClosed
	}
	err := fn()
	if err != nil && retryable(err) && ctx.Err() == nil && !d.closed.Load() {
		err = fn()
	}
	if err != nil && ctx.Err() != nil {
		// Whatever pgx made of the cut (a closed connection, a cancelled
		// statement), the caller gave up or its deadline passed.
		return ctx.Err()
	}
	return d.mapErr(err)
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" // admin or crash shutdown of that backend
	}
	return pgconn.SafeToRetry(err)
}

// mapErr turns pgx errors into the providers' error kinds; context errors
// stay as they are.
func (d *Database) mapErr(err error) error {
	if err == nil { // before pgErr, which escapes: no allocation on success
		return nil
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return providers.ErrNotFound
	case errors.Is(err, puddle.ErrClosedPool) || d.closed.Load():
		return providers.ErrClosed
	case errors.As(err, &pgErr) && pgErr.Code == "53100":
		return fmt.Errorf("%w: PostgreSQL: %s: free space on its disk, or delete entries", providers.ErrFull, oneLine(pgErr.Message))
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "54000"):
		// Data the server cannot take: an untranslatable character, a key
		// beyond the index's row size.
		return providers.Invalid("postgres refused the data: %s", oneLine(pgErr.Message))
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Config != nil {
		// Name the server and the reason, not pgx's account of the attempt.
		why := cause(err)
		if errors.As(err, &pgErr) {
			why = oneLine(pgErr.Message) + " (SQLSTATE " + pgErr.Code + ")"
		}
		where := net.JoinHostPort(ce.Config.Host, strconv.Itoa(int(ce.Config.Port)))
		return providers.Unavailable("database", fmt.Errorf("cannot connect to %s: %s", where, d.st.scrub(why)))
	}
	return providers.Unavailable("database", errors.New(d.st.scrub(oneLine(err.Error()))))
}

// PoolStats implements providers.PoolReporter.
func (d *Database) PoolStats() providers.PoolStats {
	s := d.pool.Stat()
	return providers.PoolStats{
		Max: int(s.MaxConns()), Total: int(s.TotalConns()), Idle: int(s.IdleConns()),
		Acquired: int(s.AcquiredConns()), Constructing: int(s.ConstructingConns()),
	}
}

// Changes implements providers.ChangeFeed.
func (d *Database) Changes(fn func(collection, key string)) { d.feed.Changes(fn) }

// ChangeDetails implements providers.DetailedChangeFeed: expiries other
// instances' sweeps announce come marked as such.
func (d *Database) ChangeDetails(fn func(providers.Change)) { d.feed.ChangeDetails(fn) }

// Live implements providers.ChangeFeed.
func (d *Database) Live() bool { return d.feed.Live() }

// FallbackTTL implements providers.ChangeFeed.
func (d *Database) FallbackTTL() time.Duration { return d.feed.FallbackTTL() }

// HealthIndicators implements providers.HealthContributor: the pool's
// figures ("postgres_pool", always UP: the database indicator is the one
// that pings), and, once a local cache listens to the change feed,
// "postgres_changes", which tells whether LISTEN is live. Neither is
// critical: while the feed is down, reads stay correct to within
// postgres.fallback_ttl.
func (d *Database) HealthIndicators() []providers.HealthIndicator {
	hs := []providers.HealthIndicator{{
		Name: "postgres_pool", Order: 15, ComponentType: "component",
		Check: func(ctx context.Context) providers.HealthResult {
			s := d.pool.Stat()
			return providers.HealthResult{Status: providers.StatusUp, ObservedValue: s.AcquiredConns(), ObservedUnit: "connections",
				Details: map[string]any{
					"max": s.MaxConns(), "total": s.TotalConns(), "idle": s.IdleConns(), "acquired": s.AcquiredConns(),
					"constructing": s.ConstructingConns(), "acquire_count": s.AcquireCount(), "waited_count": s.EmptyAcquireCount(),
				}}
		},
	}}
	if !d.feed.Subscribed() {
		return hs
	}
	return append(hs, d.feed.HealthIndicator("postgres_changes", d.st.scrub))
}
