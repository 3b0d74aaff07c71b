package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/postgres"
)

// v1DDL is the table as navius made it before schema version 2, with its
// version record.
func v1DDL(tbl string) []string {
	return []string{
		`CREATE TABLE ` + tbl + ` (
  collection text COLLATE "C" NOT NULL,
  key        text COLLATE "C" NOT NULL,
  value      bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, key)
)`,
		`CREATE TABLE IF NOT EXISTS navius_schema_version (table_name text PRIMARY KEY, version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO navius_schema_version (table_name, version) VALUES ('` + tbl + `', 1)`,
		`INSERT INTO ` + tbl + ` (collection, key, value) VALUES ('c', 'a', 'one'), ('c', 'b', 'two'), ('d', 'x', '\x00ff')`,
	}
}

func makeV1(t *testing.T) string {
	t.Helper()
	tbl := freshTable()
	for _, stmt := range v1DDL(tbl) {
		srv.MustExec(t, "postgres", stmt)
	}
	return tbl
}

func recorded(t *testing.T, tbl string) int {
	t.Helper()
	var v int
	if err := srv.QueryValue(context.Background(), "postgres", &v, "SELECT version FROM navius_schema_version WHERE table_name = $1", tbl); err != nil {
		t.Fatal(err)
	}
	return v
}

func hasColumn(t *testing.T, tbl, col string) bool {
	t.Helper()
	var n int
	if err := srv.QueryValue(context.Background(), "postgres", &n, "SELECT count(*) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped", tbl, col); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// checkUpgraded: the rows of a version-1 table read as they were, at the
// legacy version with no expiry, and take conditional writes.
func checkUpgraded(t *testing.T, db providers.Database, tbl string) {
	t.Helper()
	ctx := context.Background()
	if v := recorded(t, tbl); v != postgres.SchemaVersion {
		t.Fatalf("recorded schema version %d after the upgrade, want %d", v, postgres.SchemaVersion)
	}
	vdb := db.(providers.Versioned)
	for _, want := range []struct{ coll, key, value string }{{"c", "a", "one"}, {"c", "b", "two"}, {"d", "x", "\x00\xff"}} {
		e, err := vdb.GetEntry(ctx, want.coll, want.key)
		if err != nil || string(e.Value) != want.value || e.Version != providers.LegacyVersion || !e.ExpiresAt.IsZero() {
			t.Fatalf("%s/%s after the upgrade: %q version %q expires %v, %v; want %q at the legacy version, no expiry",
				want.coll, want.key, e.Value, e.Version, e.ExpiresAt, err, want.value)
		}
	}
	page, err := vdb.Query(ctx, "c", providers.Query{})
	if err != nil || len(page.Items) != 2 || page.Items[0].Version != providers.LegacyVersion {
		t.Fatalf("Query after the upgrade: %+v, %v", page.Items, err)
	}
	legacy := providers.Write{Condition: providers.Condition{Match: []string{providers.LegacyVersion}}}
	v, err := vdb.Put(ctx, "c", "a", []byte("one+"), legacy)
	if err != nil || v == providers.LegacyVersion {
		t.Fatalf("Put If-Match the legacy version: %q, %v", v, err)
	}
	_, err = vdb.Put(ctx, "c", "a", []byte("lost"), legacy)
	var pe *providers.PreconditionError
	if !errors.As(err, &pe) || !pe.Exists || pe.Version != v {
		t.Fatalf("a second Put If-Match the legacy version: %v, want a failed precondition naming %q", err, v)
	}
	if existed, err := vdb.Remove(ctx, "c", "b", providers.Condition{Match: []string{providers.LegacyVersion}}); err != nil || !existed {
		t.Fatalf("Remove If-Match the legacy version: %v, %v", existed, err)
	}
	if _, err := vdb.Put(ctx, "d", "x", []byte("brief"), providers.Write{TTL: time.Hour}); err != nil {
		t.Fatalf("Put with a TTL after the upgrade: %v", err)
	}
	var idx int
	_ = srv.QueryValue(ctx, "postgres", &idx, "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%WHERE (expires_at IS NOT NULL)%'", tbl)
	if idx != 1 {
		t.Fatalf("%d partial expiry indexes on %s, want 1", idx, tbl)
	}
}

// TestUpgradeFromVersion1: a table made by navius before versions is
// upgraded in place at start, once, by instances starting together.
func TestUpgradeFromVersion1(t *testing.T) {
	tbl := makeV1(t)
	if err := startTogether(4, tbl); err != nil {
		t.Fatalf("instances starting together on a version-1 table: %v", err)
	}
	checkUpgraded(t, open(t, srv.URL("postgres"), "postgres.table", tbl), tbl)
}

// TestUpgradeByHand: with postgres.create_table false, a version-1 table
// is refused with a one-line error that gives the statements to run and
// changes nothing; once a DBA has run them (UpgradeDDL), navius runs.
func TestUpgradeByHand(t *testing.T) {
	ctx := context.Background()
	tbl := makeV1(t)
	_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", tbl, "postgres.create_table", "false")})
	stmts, derr := postgres.UpgradeDDL(tbl)
	if derr != nil {
		t.Fatal(derr)
	}
	if !errors.Is(err, providers.ErrInvalid) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a version-1 table with create_table false: %v, want a one-line ErrInvalid", err)
	}
	for _, want := range append([]string{"schema version 1", "postgres.create_table"}, stmts...) {
		if want = strings.Join(strings.Fields(want), " "); !strings.Contains(err.Error(), want) {
			t.Fatalf("%q lacks %q", err, want)
		}
	}
	t.Logf("refused: %v", err)
	if hasColumn(t, tbl, "version") || recorded(t, tbl) != 1 {
		t.Fatal("the refused start changed the table")
	}
	for _, stmt := range stmts {
		srv.MustExec(t, "postgres", stmt)
	}
	checkUpgraded(t, open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.create_table", "false"), tbl)
}

// TestUpgradeWithoutPermission: a role that may write the table but not
// alter it gets a one-line error naming the way out, and nothing changes.
func TestUpgradeWithoutPermission(t *testing.T) {
	tbl := makeV1(t)
	srv.MustExec(t, "postgres", "CREATE ROLE writer LOGIN")
	srv.MustExec(t, "postgres", "GRANT SELECT, INSERT, UPDATE, DELETE ON "+tbl+", navius_schema_version TO writer")
	_, err := postgres.OpenDatabase(context.Background(), providers.DatabaseConfig{
		URL: "postgres://writer@" + srv.Addr() + "/postgres?sslmode=disable", Settings: settings("postgres.table", tbl)})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "no permission to upgrade table "+tbl) ||
		!strings.Contains(err.Error(), "ALTER TABLE") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("upgrade without the right to: %v", err)
	}
	if hasColumn(t, tbl, "version") || recorded(t, tbl) != 1 {
		t.Fatal("the failed upgrade changed the table")
	}
}

// TestSchemaMismatches: a record newer than the layout, and layouts
// half-way between versions, are refused with one-line errors.
func TestSchemaMismatches(t *testing.T) {
	ctx := context.Background()
	tbl := makeV1(t)
	srv.MustExec(t, "postgres", "UPDATE navius_schema_version SET version = 2 WHERE table_name = $1", tbl)
	_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", tbl)})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "recorded as schema version 2 but has the columns of version 1") {
		t.Fatalf("a version-1 layout recorded as 2: %v", err)
	}
	base := "collection text, key text, value bytea, updated_at timestamptz"
	for _, tc := range []struct{ cols, want string }{
		{base + ", version bigint", "no column expires_at"},
		{base + ", expires_at timestamptz", "no column version"},
		{base + ", version text, expires_at timestamptz", "column version is text, want bigint"},
		{base + ", version bigint, expires_at timestamptz NOT NULL", "column expires_at is NOT NULL"},
	} {
		tbl := freshTable()
		srv.MustExec(t, "postgres", "CREATE TABLE "+tbl+" ("+tc.cols+", PRIMARY KEY (collection, key))")
		_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", tbl)})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line error saying %q", tc.cols, err, tc.want)
		}
	}
}

// listen reads the table's notifications on a connection of the test's.
func listen(t *testing.T, tbl string) func(within time.Duration) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := srv.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, "LISTEN "+tbl); err != nil {
		t.Fatal(err)
	}
	return func(within time.Duration) []string {
		var got []string
		deadline := time.Now().Add(within)
		for {
			wctx, cancel := context.WithDeadline(ctx, deadline)
			n, err := conn.WaitForNotification(wctx)
			cancel()
			if err != nil {
				return got
			}
			_, rest, _ := strings.Cut(n.Payload, " ") // the instance id
			got = append(got, rest)
		}
	}
}

// TestVersionedWritesAnnounced: in both notify modes, each kind of write
// that changed a row is announced once, a failed condition announces
// nothing, a batch announces the rows it changed, and the sweep announces
// its removals as expiries.
func TestVersionedWritesAnnounced(t *testing.T) {
	for _, mode := range []string{"after_write", "with_write"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			tbl := freshTable()
			db := open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.notify", mode).(*postgres.Database)
			next := listen(t, tbl)
			create := providers.Write{Condition: providers.Condition{MustNotExist: true}}
			v, err := db.Put(ctx, "c", "k", []byte("1"), create)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Put(ctx, "c", "k", []byte("lost"), create); !errors.Is(err, providers.ErrPrecondition) {
				t.Fatalf("create-only of an existing key: %v", err)
			}
			if _, err := db.Put(ctx, "c", "k", []byte("lost"), providers.Write{Condition: providers.Condition{Match: []string{"0123456789abcdef"}}}); !errors.Is(err, providers.ErrPrecondition) {
				t.Fatalf("If-Match of another version: %v", err)
			}
			if _, err := db.Remove(ctx, "c", "k", providers.Condition{MustNotExist: true}); !errors.Is(err, providers.ErrPrecondition) {
				t.Fatalf("Remove If-None-Match of an existing key: %v", err)
			}
			if _, err := db.Put(ctx, "c", "k", []byte("2"), providers.Write{Condition: providers.Condition{Match: []string{v}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Remove(ctx, "c", "k", providers.Condition{MustExist: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Apply(ctx, []providers.BatchOp{
				{Collection: "c", Key: "b1", Value: []byte("x")},
				{Collection: "c", Key: "nothing", Delete: true},
				{Collection: "d", Key: "b2", Value: []byte("y"), TTL: 50 * time.Millisecond},
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Apply(ctx, []providers.BatchOp{
				{Collection: "c", Key: "b1", Delete: true},
				{Collection: "c", Key: "b3", Value: []byte("z"), Condition: providers.Condition{MustExist: true}},
			}); !errors.Is(err, providers.ErrPrecondition) {
				t.Fatalf("a batch whose condition fails: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			if n, err := db.Sweep(ctx, 10); err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want the one expired entry", n, err)
			}
			got := strings.Join(next(time.Second), " | ")
			want := "1 ck | 1 ck | 1 ck | 1 cb1 | 1 db2 | expired 1 db2"
			if got != want {
				t.Fatalf("notifications %q, want %q", got, want)
			}
		})
	}
}

// TestBatchesShareKeys: concurrent batches over a few shared keys, each
// naming them in another order, creating and deleting rows, all go
// through: the lock takes rows in key order and the writes follow it, so
// they queue instead of deadlocking (and a deadlock PostgreSQL breaks is
// retried). PostgreSQL's count of deadlocks it broke stays as it was.
func TestBatchesShareKeys(t *testing.T) {
	ctx := context.Background()
	deadlocks := func() int64 {
		var n int64
		if err := srv.QueryValue(ctx, "postgres", &n, "SELECT deadlocks FROM pg_stat_database WHERE datname = 'postgres'"); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks()
	db := open(t, srv.URL("postgres")+"&application_name=sharekeys", "postgres.table", freshTable()).(*postgres.Database)
	keys := []string{"a", "b", "c", "d", "e"}
	var wg sync.WaitGroup
	var applied atomic.Int64
	errs := make(chan error, 6)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 40 {
				ks := append([]string(nil), keys...)
				r.Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
				ks = ks[:2+r.IntN(3)]
				ops := make([]providers.BatchOp, len(ks))
				for j, k := range ks {
					ops[j] = providers.BatchOp{Collection: "s", Key: k, Value: []byte(fmt.Sprintf("%d-%d", w, i))}
					if i%5 == 4 && j == 0 {
						ops[j] = providers.BatchOp{Collection: "s", Key: k, Delete: true}
					}
				}
				if _, err := db.Apply(ctx, ops); err != nil {
					errs <- fmt.Errorf("batch %d of worker %d: %w", i, w, err)
					return
				}
				applied.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A backend reports its statistics when it exits at the latest.
	db.Close()
	waitFor(t, "the backends to exit", func() bool {
		var n int
		_ = srv.QueryValue(ctx, "postgres", &n, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sharekeys'")
		return n == 0
	})
	if n := deadlocks() - before; n != 0 {
		t.Fatalf("PostgreSQL broke %d deadlocks between the batches", n)
	}
	t.Logf("%d batches applied", applied.Load())
}

// TestSweepsTogether: two instances sweeping the same table at once
// remove every expired row exactly once between them, in bounded chunks,
// and leave the rest.
func TestSweepsTogether(t *testing.T) {
	ctx := context.Background()
	tbl := freshTable()
	a := open(t, srv.URL("postgres"), "postgres.table", tbl).(*postgres.Database)
	b := open(t, srv.URL("postgres"), "postgres.table", tbl).(*postgres.Database)
	const expiring = 300
	srv.MustExec(t, "postgres", "INSERT INTO "+tbl+` (collection, key, value, version, expires_at)
		SELECT 'sw', 'k' || g, 'v', g, now() - interval '1 second' FROM generate_series(1, $1) g`, expiring)
	if _, err := a.Put(ctx, "sw", "kept", []byte("v"), providers.Write{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, db := range []*postgres.Database{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				n, err := db.Sweep(ctx, 25)
				if err != nil || n < 0 || n > 25 {
					errs <- fmt.Errorf("Sweep(25) = %d, %v", n, err)
					return
				}
				total.Add(int64(n))
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var left int
	_ = srv.QueryValue(ctx, "postgres", &left, "SELECT count(*) FROM "+tbl)
	if total.Load() != expiring || left != 1 {
		t.Fatalf("the sweeps removed %d of %d expired rows; %d rows left, want 1", total.Load(), expiring, left)
	}
}
