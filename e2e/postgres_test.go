package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/pgtest"
)

const pgFeatures = "default,postgres"

// healthComponent reads one component of /health: its status and details.
func healthComponent(t *testing.T, p *proc, name string) (string, map[string]any) {
	t.Helper()
	_, body := p.Do(t, "GET", "/health", "")
	var h struct {
		Components map[string]struct {
			Status  string         `json:"status"`
			Details map[string]any `json:"details"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/health: %v %s", err, body)
	}
	c, ok := h.Components[name]
	if !ok {
		t.Fatalf("/health has no %s component: %s", name, body)
	}
	return c.Status, c.Details
}

// pgWaitFor polls cond for up to 10 s.
func pgWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, what, 10*time.Second, cond)
}

// pgTableExists reports whether a table exists in database db.
func pgTableExists(t *testing.T, srv *pgtest.Server, db, table string) bool {
	t.Helper()
	var exists bool
	if err := srv.QueryValue(context.Background(), db, &exists, "SELECT to_regclass($1) IS NOT NULL", table); err != nil {
		t.Fatal(err)
	}
	return exists
}

// concurrentGets sends n concurrent GETs of keys no one wrote and waits
// for them.
func concurrentGets(p *proc, n int) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s/api/v1/c/x%d", p.URL, i))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
}

// TestPostgresServe runs the API on PostgreSQL: the usual exercise, the
// provider in /info, the pool's figures in /health and /metrics, and the
// data in the table where a DBA would look for it.
func TestPostgresServe(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_DATABASE_MAX_CONNECTIONS=7"})
	exercise(t, p)
	if _, body := p.Do(t, "GET", "/info", ""); !strings.Contains(body, `"database":"postgres"`) {
		t.Fatalf("/info = %s", body)
	}
	status, details := healthComponent(t, p, "postgres_pool")
	if status != "UP" || details["max"] != float64(7) || details["total"] == nil || details["idle"] == nil || details["acquired"] == nil {
		t.Fatalf("postgres_pool: %s %v", status, details)
	}
	pgWaitFor(t, "postgres_changes UP", func() bool { s, _ := healthComponent(t, p, "postgres_changes"); return s == "UP" })
	_, metrics := p.Do(t, "GET", "/metrics", "")
	for _, want := range []string{
		`navius_database_pool_connections{provider="postgres",state="idle"}`,
		`navius_database_pool_connections{provider="postgres",state="acquired"}`,
		`navius_database_pool_max_connections{provider="postgres"} 7`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	var kind string
	if err := srv.QueryValue(context.Background(), "postgres", &kind, "SELECT convert_from(value, 'UTF8') FROM navius_kv WHERE collection = 'pets' AND key = 'tom'"); err != nil || kind != `{"kind":"lion"}` {
		t.Fatalf("navius_kv holds %q, %v", kind, err)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestPostgresOutage stops PostgreSQL (fast shutdown) under a running
// navius: readiness turns false within 2 s, the API answers 503 saying the
// database is unavailable, 200 concurrent requests leave no goroutines
// behind, and once PostgreSQL is back navius is ready within 2 s and writes
// work, without a restart.
func TestPostgresOutage(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_LOG_ACCESS=false"})
	checkOutage(t, p, "PostgreSQL", srv.Stop, func() {
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
	})
	if status, body := p.Do(t, "GET", "/api/v1/c/k", ""); status != 200 || body != "v" {
		t.Fatalf("GET of the write before the outage = %d %q", status, body)
	}
	_ = p.Stop(t)
}

// TestPostgresHang freezes PostgreSQL (every process stopped: connections
// stay open, nothing answers): readiness turns false within 2 s as for a
// stopped server, API calls answer 503 once database.timeout expires
// instead of hanging, goroutines do not pile up, and everything recovers by
// itself when PostgreSQL continues.
func TestPostgresHang(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_LOG_ACCESS=false",
		"NAVIUS_DATABASE_TIMEOUT=1s"})
	if status, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); status != 204 {
		t.Fatalf("PUT = %d %s", status, body)
	}
	waitStatus(t, p, "/readyz", 200, 2*time.Second)
	before := goroutines(t, p)

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	took := waitStatus(t, p, "/readyz", 503, 2*time.Second)
	t.Logf("readyz false %s after PostgreSQL froze", took)
	start := time.Now()
	status, body := p.Do(t, "GET", "/api/v1/c/uncached", "")
	// Unavailable (the pool knows the server is gone) or timed out (the
	// query waited for database.timeout): both 503, in words.
	if status != 503 || !strings.Contains(body, "database is unavailable") && !strings.Contains(body, "did not answer in time (database.timeout)") {
		t.Fatalf("GET with PostgreSQL frozen = %d %s", status, body)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("GET with PostgreSQL frozen took %s with database.timeout 1s", took)
	}
	t.Logf("GET with PostgreSQL frozen answered 503 after %s", time.Since(start))
	// Connections abandoned at a deadline are closed in the background
	// (pgx sends the server a cancel request, which waits up to 15 s on a
	// frozen server): goroutines rise by about the pool size, not by the
	// number of requests, and go once those closes end.
	concurrentGets(p, 200)
	if during := goroutines(t, p); during > before+60 {
		t.Fatalf("goroutines grew from %d to %d after 200 requests", before, during)
	}
	settled := time.Now()
	harness.WaitFor(t, "goroutines to settle", 25*time.Second, func() bool { return goroutines(t, p) <= before+20 })
	t.Logf("goroutines back to %d (from %d before) %s after the load", goroutines(t, p), before, time.Since(settled).Round(time.Millisecond))

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	took = waitStatus(t, p, "/readyz", 200, 2*time.Second)
	t.Logf("readyz true %s after PostgreSQL continued", took)
	if status, body := p.Do(t, "GET", "/api/v1/c/k", ""); status != 200 || body != "v" {
		t.Fatalf("GET after recovery = %d %q", status, body)
	}
	_ = p.Stop(t)
}

// TestPostgresTwoInstances: two navius processes share one PostgreSQL, each
// with its in-process cache in front (1 h TTL); a write through one is not
// served stale by the other once its notification has arrived, whether the
// NOTIFY follows the write or is part of it. Reports the worst propagation
// time.
func TestPostgresTwoInstances(t *testing.T) {
	for _, mode := range []string{"after_write", "with_write"} {
		t.Run(mode, func(t *testing.T) { testPostgresTwoInstances(t, mode) })
	}
}

func testPostgresTwoInstances(t *testing.T, mode string) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h",
		"NAVIUS_LOG_ACCESS=false", "NAVIUS_POSTGRES_NOTIFY=" + mode}
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	for _, p := range []*proc{a, b} {
		pgWaitFor(t, "the change feed", func() bool { s, _ := healthComponent(t, p, "postgres_changes"); return s == "UP" })
	}
	get := func(p *proc, key string) string {
		status, body := p.Do(t, "GET", "/api/v1/shared/"+key, "")
		if status != 200 {
			t.Fatalf("GET = %d %s", status, body)
		}
		return body
	}
	var worst, total time.Duration
	const rounds = 40
	for i := range rounds {
		v := fmt.Sprintf("v%d", i)
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		key := fmt.Sprintf("k%d", i%4) // each key cached by both from earlier rounds
		if status, body := writer.Do(t, "PUT", "/api/v1/shared/"+key, v); status != 204 {
			t.Fatalf("PUT = %d %s", status, body)
		}
		start := time.Now()
		for got := get(reader, key); got != v; got = get(reader, key) {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("round %d: the other instance still serves %q for %q", i, got, v)
			}
			time.Sleep(time.Millisecond)
		}
		took := time.Since(start)
		worst, total = max(worst, took), total+took
		if got := get(writer, key); got != v {
			t.Fatalf("round %d: writer reads %q", i, got)
		}
	}
	t.Logf("time for a write to reach the other instance: worst %s, mean %s over %d writes", worst, total/rounds, rounds)
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// TestPostgresListenerLoss terminates the listening backend of an instance
// (pg_terminate_backend): the feed reconnects by itself. Then, with
// reconnecting made impossible (CONNECT revoked) while the pool keeps its
// connections, the instance drops its cache on the loss and keeps entries
// only for postgres.fallback_ttl, so unannounced writes show up that fast
// instead of after the cache's hour; once allowed again it listens again
// and announced writes flow.
func TestPostgresListenerLoss(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	srv.MustExec(t, "postgres", "CREATE ROLE app LOGIN")
	srv.MustExec(t, "postgres", "CREATE DATABASE appdb OWNER app")
	srv.MustExec(t, "postgres", "REVOKE CONNECT ON DATABASE appdb FROM PUBLIC")
	srv.MustExec(t, "postgres", "GRANT CONNECT ON DATABASE appdb TO app")
	url := "postgres://app@" + srv.Addr() + "/appdb?sslmode=disable&application_name="
	common := []string{"NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h", "NAVIUS_POSTGRES_FALLBACK_TTL=300ms",
		"NAVIUS_LOG_ACCESS=false", "NAVIUS_HEALTH_CACHE_TTL=0"}
	a := serve(t, bin, t.TempDir(), append([]string{"NAVIUS_DATABASE_URL=" + url + "inst-a"}, common...))
	b := serve(t, bin, t.TempDir(), append([]string{"NAVIUS_DATABASE_URL=" + url + "inst-b"}, common...))
	live := func() bool { s, _ := healthComponent(t, b, "postgres_changes"); return s == "UP" }
	pgWaitFor(t, "b's listener", live)
	terminate := func() {
		t.Helper()
		var n int
		if err := srv.QueryValue(context.Background(), "postgres", &n,
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'inst-b listener'"); err != nil || n != 1 {
			t.Fatalf("terminated %d listeners: %v", n, err)
		}
	}
	put := func(v string) {
		t.Helper()
		if status, body := a.Do(t, "PUT", "/api/v1/shared/k", v); status != 204 {
			t.Fatalf("PUT = %d %s", status, body)
		}
	}
	// silent writes the row behind navius's back: no notification.
	silent := func(v string) {
		t.Helper()
		srv.MustExec(t, "appdb", "UPDATE navius_kv SET value = convert_to($1, 'UTF8') WHERE collection = 'shared' AND key = 'k'", v)
	}
	converge := func(want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			status, got := b.Do(t, "GET", "/api/v1/shared/k", "")
			if status == 200 && got == want {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("b still serves %d %q, want %q", status, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	put("v0")
	converge("v0", 2*time.Second)
	terminate()
	pgWaitFor(t, "b's listener to come back by itself", func() bool {
		var n int
		_ = srv.QueryValue(context.Background(), "postgres", &n, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'inst-b listener'")
		return n == 1 && live()
	})
	put("v1")
	t.Logf("after the reconnect, an announced write reached b in %s", converge("v1", 2*time.Second))

	// b now caches v1 for an hour. Keep its listener out.
	srv.MustExec(t, "postgres", "REVOKE CONNECT ON DATABASE appdb FROM app")
	terminate()
	pgWaitFor(t, "b's listener to be down", func() bool { return !live() })
	if status, _ := b.Do(t, "GET", "/readyz", ""); status != 200 {
		t.Fatalf("readyz = %d with only the listener down", status)
	}
	for i := range 4 {
		v := fmt.Sprintf("silent%d", i)
		silent(v)
		took := converge(v, 3*time.Second) // the hour-long entry was dropped on the loss; fills last 300ms
		t.Logf("listener down: unannounced write %d seen by b after %s (fallback TTL 300ms)", i, took)
	}
	if live() {
		t.Fatal("the listener came back while CONNECT was revoked")
	}

	srv.MustExec(t, "postgres", "GRANT CONNECT ON DATABASE appdb TO app")
	pgWaitFor(t, "b to listen again", live)
	for i := range 3 {
		v := fmt.Sprintf("announced%d", i)
		put(v)
		t.Logf("listener back: announced write %d seen by b after %s", i, converge(v, 2*time.Second))
	}
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// TestPostgresCrashDurability kills navius with SIGKILL at random moments
// under concurrent PUT load (as TestCrashDurability does for bolt) against
// a PostgreSQL with fsync on; after each restart every acknowledged write
// is there with its value.
func TestPostgresCrashDurability(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t, pgtest.Options{Durable: true})
	crashDurability(t, bin, []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_DATABASE_MAX_CONNECTIONS=16"})
}

// TestPostgresBadInput starts navius with configurations that cannot work:
// each fails with a one-line error that names the problem and the fix
// (exit 2 for configuration errors, 1 for a server that cannot be reached),
// never shows the password, and writes nothing.
func TestPostgresBadInput(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	srv.MustExec(t, "postgres", "CREATE ROLE alice LOGIN PASSWORD 'right-pw' IN ROLE "+pgtest.PasswordGroup)
	srv.MustExec(t, "postgres", "CREATE DATABASE alicedb OWNER alice")
	srv.MustExec(t, "postgres", "CREATE TABLE odd (collection text, key text, value text, updated_at timestamptz, PRIMARY KEY (collection, key))")
	srv.MustExec(t, "postgres", "CREATE TABLE newer (collection text, key text, value bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (collection, key))")
	srv.MustExec(t, "postgres", "CREATE TABLE navius_schema_version (table_name text PRIMARY KEY, version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now()); INSERT INTO navius_schema_version VALUES ('newer', 9)")
	const pw = "Wr0ng-pw-e2e"
	addr := srv.Addr()
	cases := []struct {
		name  string
		env   []string
		code  int
		wants []string
	}{
		{"malformed URL", []string{"NAVIUS_DATABASE_URL=postgres://alice:" + pw + "@" + addr + ":x/alicedb"}, 2,
			[]string{"database.url", "invalid port"}},
		{"URL without a host part", []string{"NAVIUS_DATABASE_URL=postgresql:alicedb?password=" + pw}, 2,
			[]string{"bad PostgreSQL URL", "postgres://user:password@host:5432/database"}},
		{"bad URL parameter", []string{"NAVIUS_DATABASE_URL=postgres://alice:" + pw + "@" + addr + "/alicedb?connect_timeout=soon"}, 2,
			[]string{"bad PostgreSQL URL", "invalid connect_timeout"}},
		{"unreachable host", []string{"NAVIUS_DATABASE_URL=postgres://alice:" + pw + "@127.0.0.1:1/alicedb"}, 1,
			[]string{"cannot connect to 127.0.0.1:1", "connection refused", "check the host and port in database.url"}},
		{"wrong password", []string{"NAVIUS_DATABASE_URL=postgres://alice:" + pw + "@" + addr + "/alicedb"}, 2,
			[]string{`password authentication failed for user "alice"`, "check the password"}},
		{"wrong password option", []string{"NAVIUS_DATABASE_URL=postgres://alice@" + addr + "/alicedb", "NAVIUS_POSTGRES_PASSWORD=" + pw}, 2,
			[]string{`password authentication failed for user "alice"`, "postgres.password"}},
		{"missing database", []string{"NAVIUS_DATABASE_URL=postgres://alice:right-pw@" + addr + "/nosuchdb"}, 2,
			[]string{`database "nosuchdb" does not exist`, "createdb nosuchdb"}},
		{"table of another shape", []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_POSTGRES_TABLE=odd"}, 2,
			[]string{"table odd exists with another shape", "column value is text, want bytea", "set postgres.table to another name"}},
		{"newer schema", []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_POSTGRES_TABLE=newer"}, 2,
			[]string{"schema version 9, newer than this navius knows (2)"}},
		{"table creation off", []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_POSTGRES_CREATE_TABLE=false"}, 2,
			[]string{"table navius_kv does not exist and postgres.create_table is false"}},
		{"bad table name", []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_POSTGRES_TABLE=Robert'); DROP TABLE odd;--"}, 2,
			[]string{"postgres.table", "is not a table name"}},
		{"sslmode prefer", []string{"NAVIUS_DATABASE_URL=postgres://alice:" + pw + "@" + addr + "/alicedb?sslmode=prefer"}, 2,
			[]string{"sslmode=prefer may fall back to an unencrypted connection", "verify-full"}},
		{"bad duration", []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_POSTGRES_CONNECT_TIMEOUT=soon"}, 2,
			[]string{"postgres.connect_timeout"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		code, stdout, stderr := runIn(t, dir, "", bin, append(c.env, "NAVIUS_LISTEN=127.0.0.1:0"), "serve")
		if !checkExit(t, c.name, code, stderr, c.code, c.wants) {
			continue
		}
		if strings.Contains(stdout+stderr, pw) {
			t.Errorf("%s: the output shows the password: %s", c.name, stderr)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("%s: wrote %d entries into the working directory", c.name, len(entries))
		}
		t.Logf("%s: exit %d: %s", c.name, code, strings.TrimSpace(stderr))
	}
	// Nothing was written to PostgreSQL either.
	if pgTableExists(t, srv, "alicedb", "navius_kv") || pgTableExists(t, srv, "postgres", "navius_kv") {
		t.Error("a failed start created navius_kv")
	}
	var typ string
	_ = srv.QueryValue(context.Background(), "postgres", &typ, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'odd'::regclass AND attname = 'value'")
	var versions int
	_ = srv.QueryValue(context.Background(), "postgres", &versions, "SELECT count(*) FROM navius_schema_version")
	if typ != "text" || versions != 1 {
		t.Errorf("a failed start changed the schema: odd.value is %q, %d version records", typ, versions)
	}
}

// TestPostgresSecrets: the password, in the URL or in postgres.password,
// never appears in the logs (trace level, including a failed start), /info,
// /health, /metrics, --features, config check or config keys.
func TestPostgresSecrets(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	const urlPW, optPW, wrongPW = "S3CRET-pg-url-1f2e", "S3CRET-pg-opt-3d4c", "S3CRET-pg-wrong-5b6a"
	srv.MustExec(t, "postgres", "CREATE ROLE alice LOGIN PASSWORD '"+urlPW+"' IN ROLE "+pgtest.PasswordGroup)
	srv.MustExec(t, "postgres", "CREATE DATABASE alicedb OWNER alice")
	outputs := map[string]string{}
	for i, env := range [][]string{
		{"NAVIUS_DATABASE_URL=postgres://alice:" + urlPW + "@" + srv.Addr() + "/alicedb"},
		// The option overrides the URL's password (here a wrong one).
		{"NAVIUS_DATABASE_URL=postgres://alice:" + wrongPW + "@" + srv.Addr() + "/alicedb?sslmode=disable", "NAVIUS_POSTGRES_PASSWORD=" + urlPW},
		{"NAVIUS_DATABASE_URL=postgres://alice@" + srv.Addr() + "/alicedb?password=" + urlPW},
	} {
		env = append(env, "NAVIUS_LOG_LEVEL=trace")
		p := serve(t, bin, t.TempDir(), env)
		if status, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); status != 204 {
			t.Fatalf("run %d: PUT = %d %s", i, status, body)
		}
		for _, path := range []string{"/info", "/health", "/metrics", "/api/v1/c/k"} {
			_, body := p.Do(t, "GET", path, "")
			outputs[fmt.Sprintf("run %d %s", i, path)] = body
		}
		if err := p.Stop(t); err != nil {
			t.Fatal(err)
		}
		outputs[fmt.Sprintf("run %d log", i)] = p.Logs()
		for name, args := range map[string][]string{
			"--features": {"--features"}, "config check": {"config", "check"}, "config keys": {"config", "keys"},
		} {
			_, o, e := run(t, bin, env, args...)
			outputs[fmt.Sprintf("run %d %s", i, name)] = o + e
		}
	}
	_, o, e := run(t, bin, []string{"NAVIUS_DATABASE_URL=postgres://alice@" + srv.Addr() + "/alicedb", "NAVIUS_POSTGRES_PASSWORD=" + optPW}, "serve")
	outputs["failed start"] = o + e
	if !strings.Contains(e, "password authentication failed") {
		t.Fatalf("start with a wrong postgres.password: %s", e)
	}
	for name, text := range outputs {
		if text == "" {
			t.Errorf("%s: no output to check", name)
		}
		for _, s := range []string{urlPW, optPW, wrongPW} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %s", name, s)
			}
		}
	}
	if !strings.Contains(outputs["run 0 config check"], "postgres://alice:xxxxx@") || !strings.Contains(outputs["run 2 config check"], "password=xxxxx") {
		t.Errorf("config check does not show the URLs redacted:\n%s\n%s", outputs["run 0 config check"], outputs["run 2 config check"])
	}
}
