package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/postgres"
	"github.com/navius-dev/navius/providers/providertest"
)

// srv is the package's PostgreSQL; tests keep apart by table name or by
// database. Tests that stop or reconfigure a server start their own.
var srv *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	srv, err = pgtest.Launch(pgtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgres tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	srv.Close()
	os.Exit(code)
}

// settings are the provider's defaults with kv (key, value, ...) over them.
func settings(kv ...string) providers.Settings {
	return providertest.Settings(postgres.Options, kv...)
}

var tables atomic.Int64

// freshTable is a table name no other test uses.
func freshTable() string { return fmt.Sprintf("t%d", tables.Add(1)) }

func open(t *testing.T, url string, kv ...string) providers.Database {
	t.Helper()
	db, err := postgres.OpenDatabase(context.Background(), providers.DatabaseConfig{
		URL: url, MaxConnections: 8, Timeout: 5 * time.Second, Settings: settings(kv...),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDatabaseConformance runs the suite with every capability's cases;
// each storage is a table of its own, which reopening finds again (so the
// durability cases run too).
func TestDatabaseConformance(t *testing.T) {
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
		Storage: func(t *testing.T) providertest.OpenDatabase {
			tbl := freshTable()
			return func(t *testing.T) providers.Database { return open(t, srv.URL("postgres"), "postgres.table", tbl) }
		},
	})
}

// TestSchema: the table is created with its version recorded; a second
// instance accepts it; a recorded version newer than the binary's is
// refused; with create_table off a missing table is an error that creates
// nothing; a table of the right shape made by hand is accepted and
// recorded; names are case- and injection-proof.
func TestSchema(t *testing.T) {
	ctx := context.Background()
	tbl := freshTable()
	open(t, srv.URL("postgres"), "postgres.table", tbl)
	var v int
	if err := srv.QueryValue(ctx, "postgres", &v, "SELECT version FROM navius_schema_version WHERE table_name = $1", tbl); err != nil || v != postgres.SchemaVersion {
		t.Fatalf("recorded version %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	open(t, srv.URL("postgres"), "postgres.table", tbl) // an existing table is fine

	srv.MustExec(t, "postgres", "UPDATE navius_schema_version SET version = 99 WHERE table_name = $1", tbl)
	_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", tbl)})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema version: %v", err)
	}

	missing := freshTable()
	_, err = postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", missing, "postgres.create_table", "false")})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "postgres.create_table") {
		t.Fatalf("missing table with create_table off: %v", err)
	}
	var exists bool
	_ = srv.QueryValue(ctx, "postgres", &exists, "SELECT to_regclass($1) IS NOT NULL", missing)
	if exists {
		t.Fatal("create_table=false created the table")
	}

	// A DBA creates the table from DDL; navius then runs without creating.
	byHand := freshTable()
	stmts, err := postgres.DDL(byHand)
	if err != nil {
		t.Fatal(err)
	}
	srv.MustExec(t, "postgres", stmts[0])
	db := open(t, srv.URL("postgres"), "postgres.table", byHand, "postgres.create_table", "false")
	if err := db.Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}

	// Schema-qualified names.
	srv.MustExec(t, "postgres", "CREATE SCHEMA app")
	db = open(t, srv.URL("postgres"), "postgres.table", "app.kv")
	if err := db.Set(ctx, "c", "k", []byte("in app")); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := srv.QueryValue(ctx, "postgres", &got, "SELECT convert_from(value, 'UTF8') FROM app.kv"); err != nil || got != "in app" {
		t.Fatalf("app.kv holds %q, %v", got, err)
	}
	for _, bad := range []string{"Upper", "a;drop table x", "a.b.c", `"q"`, strings.Repeat("x", 64), ""} {
		_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", bad)})
		if bad == "" {
			continue // empty means the default
		}
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "postgres.table") {
			t.Errorf("table %q: %v", bad, err)
		}
	}
}

// TestTableOfAnotherShape: an existing table that navius did not make is
// refused with a message naming the difference, and left as it was.
func TestTableOfAnotherShape(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ ddl, want string }{
		{"(collection text, key text, value text, updated_at timestamptz, PRIMARY KEY (collection, key))", "column value is text, want bytea"},
		{"(collection text, key text, updated_at timestamptz, PRIMARY KEY (collection, key))", "no column value"},
		{"(collection text, key text, value bytea, updated_at timestamptz, PRIMARY KEY (key))", "primary key is (key)"},
		{"(collection text, key text, value bytea, updated_at timestamptz)", "primary key is ()"},
		{"(collection text, key text, value bytea, updated_at timestamptz, owner text NOT NULL, PRIMARY KEY (collection, key))", "column owner is NOT NULL"},
	} {
		tbl := freshTable()
		srv.MustExec(t, "postgres", "CREATE TABLE "+tbl+" "+tc.ddl)
		_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", tbl)})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "postgres.table") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line ErrInvalid saying %q and naming postgres.table", tc.ddl, err, tc.want)
		}
		var recorded bool
		_ = srv.QueryValue(ctx, "postgres", &recorded, "SELECT EXISTS (SELECT 1 FROM navius_schema_version WHERE table_name = $1)", tbl)
		if recorded {
			t.Errorf("%s: a version was recorded for a table navius refused", tc.ddl)
		}
	}
	srv.MustExec(t, "postgres", "CREATE VIEW aview AS SELECT 1 AS x")
	_, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", "aview")})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "not a table") {
		t.Errorf("a view: %v", err)
	}
}

// TestConcurrentFirstStart: instances starting together on an empty
// database create the table once, without an error.
func TestConcurrentFirstStart(t *testing.T) {
	if err := startTogether(6, freshTable()); err != nil {
		t.Fatal(err)
	}
}

// startTogether opens and closes n databases on tbl at once.
func startTogether(n int, tbl string) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: settings("postgres.table", tbl)})
			if err == nil {
				err = db.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// TestURLsAndCredentials: the password comes from the URL or from
// postgres.password; a wrong one, a missing database, an unreachable host
// and malformed URLs fail with one-line errors of the right kind that name
// the fix and never show the password.
func TestURLsAndCredentials(t *testing.T) {
	ctx := context.Background()
	srv.MustExec(t, "postgres", "CREATE ROLE alice LOGIN PASSWORD 's3cret-pw' IN ROLE "+pgtest.PasswordGroup)
	srv.MustExec(t, "postgres", "CREATE DATABASE alicedb OWNER alice")
	try := func(url string, kv ...string) error {
		db, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, Timeout: 2 * time.Second, Settings: settings(kv...)})
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Set(ctx, "c", "k", []byte("v")); err != nil {
			return err
		}
		return db.Ping(ctx)
	}
	addr := srv.Addr()
	if err := try("postgres://alice:s3cret-pw@" + addr + "/alicedb?sslmode=disable"); err != nil {
		t.Fatalf("password in the URL: %v", err)
	}
	if err := try("postgresql://alice@"+addr+"/alicedb", "postgres.password", "s3cret-pw"); err != nil {
		t.Fatalf("password from postgres.password: %v", err)
	}
	if err := try("postgres://alice:s3cret-pw@" + addr + "/alicedb?sslmode=disable&application_name=mine"); err != nil {
		t.Fatalf("with libpq parameters: %v", err)
	}

	for _, tc := range []struct {
		name, url string
		kind      error
		wants     []string
	}{
		{"wrong password", "postgres://alice:wrong-pw-77@" + addr + "/alicedb", providers.ErrInvalid, []string{"password authentication failed", `"alice"`, "postgres.password"}},
		{"missing database", "postgres://postgres@" + addr + "/nosuchdb", providers.ErrInvalid, []string{`database "nosuchdb" does not exist`, "createdb nosuchdb"}},
		{"unreachable", "postgres://alice:wrong-pw-77@127.0.0.1:1/x", providers.ErrUnavailable, []string{"127.0.0.1:1", "check the host and port", "PostgreSQL is running"}},
		{"bad port", "postgres://alice:wrong-pw-77@h:notaport/x", providers.ErrInvalid, []string{"bad PostgreSQL URL", "postgres://user:password@host:5432/database"}},
		{"other scheme", "mysql://alice:wrong-pw-77@h/x", providers.ErrInvalid, []string{"bad PostgreSQL URL"}},
		{"bad parameter", "postgres://alice:wrong-pw-77@h/x?connect_timeout=soon", providers.ErrInvalid, []string{"bad PostgreSQL URL", "connect_timeout"}},
		{"password parameter", "postgres://alice@h:notaport/x?password=wrong-pw-77", providers.ErrInvalid, []string{"bad PostgreSQL URL"}},
		{"prefer", "postgres://alice:wrong-pw-77@" + addr + "/alicedb?sslmode=prefer", providers.ErrInvalid, []string{"sslmode=prefer", "verify-full"}},
		{"bad sslmode", "postgres://alice:wrong-pw-77@" + addr + "/alicedb?sslmode=sometimes", providers.ErrInvalid, []string{"sslmode", "verify-full"}},
	} {
		err := try(tc.url)
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
			continue
		}
		msg := err.Error()
		t.Logf("%s: %s", tc.name, msg)
		for _, w := range tc.wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q lacks %q", tc.name, msg, w)
			}
		}
		if strings.Contains(msg, "wrong-pw-77") || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q shows the password or spans lines", tc.name, msg)
		}
	}
	// The password option is kept out of messages too.
	err := try("postgres://alice@"+addr+"/alicedb", "postgres.password", "wrong-pw-77")
	if !errors.Is(err, providers.ErrInvalid) || strings.Contains(err.Error(), "wrong-pw-77") {
		t.Errorf("wrong postgres.password: %v", err)
	}
}

// TestUnstorableNames: names PostgreSQL text cannot hold are ErrInvalid,
// as is a cursor that decodes to one.
func TestUnstorableNames(t *testing.T) {
	ctx := context.Background()
	db := open(t, srv.URL("postgres"), "postgres.table", freshTable())
	for _, name := range []string{"a\x00b", "\xff\xfe"} {
		if err := db.Set(ctx, "c", name, []byte("v")); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("Set key %q: %v", name, err)
		}
		if _, err := db.Get(ctx, name, "k"); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("Get collection %q: %v", name, err)
		}
		if _, err := db.Query(ctx, "c", providers.Query{Cursor: providers.EncodeKeyCursor(name)}); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("cursor of %q: %v", name, err)
		}
	}
	// Beyond a btree index row, even compressed.
	b := make([]byte, 15000)
	_, _ = rand.Read(b)
	long := base64.RawURLEncoding.EncodeToString(b)
	if err := db.Set(ctx, "c", long, []byte("v")); !errors.Is(err, providers.ErrInvalid) {
		t.Errorf("a %d-byte key: %v", len(long), err)
	}
}

// TestPoolAndHealth: the pool size is database.max_connections, the pool's
// figures are reported, and the ping is a round trip.
func TestPoolAndHealth(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: srv.URL("postgres") + "&application_name=pooltest", MaxConnections: 3, Settings: settings("postgres.table", freshTable())})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = db.Set(ctx, "c", fmt.Sprint(i), []byte("v"))
		}()
	}
	wg.Wait()
	st := db.PoolStats()
	if st.Max != 3 || st.Total < 1 || st.Total > 3 || st.Idle+st.Acquired+st.Constructing != st.Total {
		t.Fatalf("pool stats %+v, want max 3 and consistent figures", st)
	}
	var active int
	_ = srv.QueryValue(ctx, "postgres", &active, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pooltest'")
	if active > 3 {
		t.Fatalf("%d navius connections, pool size 3", active)
	}
	hs := db.HealthIndicators()
	if len(hs) != 1 || hs[0].Name != "postgres_pool" {
		t.Fatalf("indicators before a subscriber: %+v", hs)
	}
	r := hs[0].Check(ctx)
	if r.Status != providers.StatusUp || r.Details["max"] != int32(3) || r.Details["total"] == nil {
		t.Fatalf("postgres_pool: %+v", r)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTimeouts: an operation honours its context's deadline; a statement
// that runs past postgres.statement_timeout is stopped by the server, and
// both are unavailability, not a hang.
func TestTimeouts(t *testing.T) {
	ctx := context.Background()
	tbl := freshTable()
	db := open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.statement_timeout", "300ms")
	if err := db.Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Hold the row's lock from another session: the upsert waits on it.
	conn, err := srv.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM "+tbl+" WHERE collection = 'c' AND key = 'k' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	err = db.Set(ctx, "c", "k", []byte("blocked"))
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("statement past statement_timeout: %v", err)
	}

	db2 := open(t, srv.URL("postgres"), "postgres.table", tbl, "postgres.statement_timeout", "0")
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = db2.Set(dctx, "c", "k", []byte("blocked"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("statement past the context's deadline: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("returned %s after the 200ms deadline", took)
	}
}
