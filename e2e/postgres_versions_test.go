package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/pgtest"
)

// The PostgreSQL engine's versions, expiry and batches (issue 19) against
// real navius processes on a real PostgreSQL.

const legacyETag = `"0000000000000000"`

// pgReq sends a request with headers (name, value pairs) and returns the
// status, body and ETag.
func pgReq(t *testing.T, p *proc, method, path, body string, headers ...string) (int, string, string) {
	t.Helper()
	status, header, b := harness.Request(t, method, p.URL+path, body, headers...)
	return status, b, header.Get("ETag")
}

// pgWant fails the test unless a request answers status (and, when given,
// the body).
func pgWant(t *testing.T, p *proc, status int, method, path, body string, headers ...string) (string, string) {
	t.Helper()
	got, b, etag := pgReq(t, p, method, path, body, headers...)
	if got != status {
		t.Fatalf("%s %s = %d %s, want %d", method, path, got, b, status)
	}
	return b, etag
}

type walkItem struct {
	Key   string `json:"key"`
	ETag  string `json:"etag"`
	Value string `json:"value"`
}

// pgWalk lists a whole collection in pages of limit.
func pgWalk(t *testing.T, p *proc, coll string, limit int) []walkItem {
	t.Helper()
	var all []walkItem
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("a walk of more than 10,000 pages")
		}
		body, _ := pgWant(t, p, 200, "GET", fmt.Sprintf("/api/v1/%s?limit=%d&cursor=%s", coll, limit, url.QueryEscape(cursor)), "")
		var page struct {
			Items      []walkItem `json:"items"`
			NextCursor string     `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatalf("list %s: %v: %s", coll, err, body)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func pgKeys(items []walkItem) string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return strings.Join(keys, ",")
}

func pgRecorded(t *testing.T, srv *pgtest.Server) int {
	t.Helper()
	var v int
	if err := srv.QueryValue(context.Background(), "postgres", &v, "SELECT version FROM navius_schema_version WHERE table_name = 'navius_kv'"); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPostgresVersionsMigration: navius from before versions creates the
// table and writes; today's navius upgrades the table at start and reads
// that data at the legacy version, updates it, writes it conditionally,
// with a TTL and in batches; the old navius then refuses the upgraded
// table with its one-line error and exit code 2, and changes nothing.
func TestPostgresVersionsMigration(t *testing.T) {
	old := legacyBinary(t, "memory,postgres")
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_LOG_ACCESS=false"}

	p := serve(t, old, t.TempDir(), env)
	for k, v := range map[string]string{"tom": "cat", "rex": "dog", "gone": "soon", "kit": "fox"} {
		pgWant(t, p, 204, "PUT", "/api/v1/pets/"+k, v)
	}
	pgWant(t, p, 204, "DELETE", "/api/v1/pets/gone", "")
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
	if v := pgRecorded(t, srv); v != 1 {
		t.Fatalf("the old navius recorded schema version %d, want 1", v)
	}

	p = serve(t, bin, t.TempDir(), env)
	if v := pgRecorded(t, srv); v != 2 {
		t.Fatalf("after today's navius started, the recorded schema version is %d, want 2", v)
	}
	if body, etag := pgWant(t, p, 200, "GET", "/api/v1/pets/tom", ""); body != "cat" || etag != legacyETag {
		t.Fatalf("GET of an old entry = %q with ETag %s, want cat with %s", body, etag, legacyETag)
	}
	items := pgWalk(t, p, "pets", 2)
	if pgKeys(items) != "kit,rex,tom" || items[0].ETag != legacyETag || items[0].Value != "fox" {
		t.Fatalf("list after the upgrade: %+v", items)
	}
	_, v1 := pgWant(t, p, 204, "PUT", "/api/v1/pets/tom", "lion", "If-Match", legacyETag)
	if v1 == legacyETag || v1 == "" {
		t.Fatalf("PUT If-Match the legacy ETag answered ETag %q", v1)
	}
	if _, etag := pgWant(t, p, 412, "PUT", "/api/v1/pets/tom", "lost", "If-Match", legacyETag); etag != v1 {
		t.Fatalf("the 412 names ETag %q, want the current %q", etag, v1)
	}
	pgWant(t, p, 412, "PUT", "/api/v1/pets/rex", "lost", "If-None-Match", "*")
	pgWant(t, p, 204, "PUT", "/api/v1/pets/kit", "fox cub") // an unconditional update
	pgWant(t, p, 204, "DELETE", "/api/v1/pets/rex", "", "If-Match", legacyETag)
	pgWant(t, p, 404, "GET", "/api/v1/pets/rex", "")
	pgWant(t, p, 204, "PUT", "/api/v1/pets/gone", "back", "If-None-Match", "*")
	pgWant(t, p, 204, "PUT", "/api/v1/pets/brief?ttl=1h", "for an hour")
	body, _ := pgWant(t, p, 200, "POST", "/api/v1/_batch", fmt.Sprintf(
		`{"operations":[{"op":"put","collection":"pets","key":"tom","value":"tiger","if_match":%q},{"op":"delete","collection":"pets","key":"gone"}]}`, v1))
	if !strings.Contains(body, `"etag"`) {
		t.Fatalf("batch = %s", body)
	}
	if body, _ := pgWant(t, p, 200, "GET", "/api/v1/pets/tom", ""); body != "tiger" {
		t.Fatalf("tom = %q after the batch", body)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}

	code, _, stderr := runIn(t, t.TempDir(), "", old, append(env, "NAVIUS_LISTEN=127.0.0.1:0"), "serve")
	want := "table navius_kv has schema version 2, newer than this navius knows (1)"
	if code != 2 || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Fatalf("the old navius on the upgraded table: exit %d, stderr %q; want exit 2 and one line saying %q", code, stderr, want)
	}
	t.Logf("the old navius refuses the upgraded table: exit %d: %s", code, strings.TrimSpace(stderr))
	p = serve(t, bin, t.TempDir(), env)
	if body, _ := pgWant(t, p, 200, "GET", "/api/v1/pets/kit", ""); body != "fox cub" {
		t.Fatalf("kit = %q after the old navius was refused", body)
	}
	_ = p.Stop(t)
}

// TestPostgresLostUpdates: two navius instances on one PostgreSQL, each
// with its local cache in front; 16 clients spread over both increment one
// counter 50 times each with If-Match and a retry on 412. No acknowledged
// increment is lost. Reports increments/s and the retry rate.
func TestPostgresLostUpdates(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h", "NAVIUS_LOG_ACCESS=false"}
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	for _, p := range []*proc{a, b} {
		pgWaitFor(t, "the change feed", func() bool { s, _ := healthComponent(t, p, "postgres_changes"); return s == "UP" })
	}
	const path = "/api/v1/counters/postgres"
	r := casIncrements(t, []string{a.URL, b.URL}, path, 16, 50, nil)
	wantNoLostUpdates(t, r, 16*50)
	t.Logf("PostgreSQL, 2 instances: %.0f increments/s, %.1f%% of conditional PUTs answered 412",
		float64(r.Acked)/r.Elapsed.Seconds(), 100*float64(r.Retries)/float64(r.Acked+r.Retries))
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// TestPostgresExpiry: entries with a TTL (put in one batch), seen by two
// instances with local caches, are there until their expiry and then gone
// for both at once:
// GET 404, absent from list walks, If-Match fails (412 for a PUT, 404 for
// a DELETE) and If-None-Match: * creates. The sweeper reclaims their rows. An expiry survives a restart
// and takes effect after it.
func TestPostgresExpiry(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t)
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h",
		"NAVIUS_LOG_ACCESS=false", "NAVIUS_DATABASE_SWEEP_INTERVAL=200ms"}
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	// One batch, one transaction: the five expire at the same moment.
	expiring := []string{"k0", "k1", "k2", "k3", "k4"}
	var ops []string
	for _, k := range expiring {
		ops = append(ops, fmt.Sprintf(`{"op":"put","collection":"exp","key":%q,"value":"brief %s","ttl":"3s"}`, k, k))
	}
	body, _ := pgWant(t, a, 200, "POST", "/api/v1/_batch", `{"operations":[`+strings.Join(ops, ",")+`]}`)
	var res struct {
		Results []struct {
			ETag string `json:"etag"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Results) != len(expiring) {
		t.Fatalf("batch = %s, %v", body, err)
	}
	etags := map[string]string{}
	for i, k := range expiring {
		etags[k] = res.Results[i].ETag
	}
	pgWant(t, a, 204, "PUT", "/api/v1/exp/keep", "stays")
	_, longETag := pgWant(t, b, 204, "PUT", "/api/v1/exp/long?ttl=1h", "an hour")
	for _, p := range []*proc{a, b} { // both cache every entry, and walk them
		for _, k := range expiring {
			if body, etag := pgWant(t, p, 200, "GET", "/api/v1/exp/"+k, ""); body != "brief "+k || etag != etags[k] {
				t.Fatalf("GET %s before expiry = %q %s", k, body, etag)
			}
		}
		if got := pgKeys(pgWalk(t, p, "exp", 2)); got != "k0,k1,k2,k3,k4,keep,long" {
			t.Fatalf("walk before expiry: %s", got)
		}
	}

	pgWaitFor(t, "k0 to expire on a", func() bool { s, _, _ := pgReq(t, a, "GET", "/api/v1/exp/k0", ""); return s == 404 })
	for _, p := range []*proc{b, a} {
		for _, k := range expiring {
			pgWant(t, p, 404, "GET", "/api/v1/exp/"+k, "")
		}
		if got := pgKeys(pgWalk(t, p, "exp", 2)); got != "keep,long" {
			t.Fatalf("walk after expiry: %s", got)
		}
	}
	pgWant(t, b, 412, "PUT", "/api/v1/exp/k1", "late", "If-Match", etags["k1"])
	pgWant(t, b, 404, "DELETE", "/api/v1/exp/k2", "", "If-Match", "*") // a DELETE of nothing, whatever its condition
	pgWant(t, a, 204, "PUT", "/api/v1/exp/k3", "created again", "If-None-Match", "*")
	if body, _ := pgWant(t, b, 200, "GET", "/api/v1/exp/k3", ""); body != "created again" {
		t.Fatalf("k3 = %q on b after its re-creation on a", body)
	}
	pgWaitFor(t, "the sweeper to reclaim the expired rows", func() bool {
		var n int
		_ = srv.QueryValue(context.Background(), "postgres", &n, "SELECT count(*) FROM navius_kv WHERE collection = 'exp' AND expires_at IS NOT NULL AND expires_at <= now()")
		return n == 0
	})
	var rows int
	_ = srv.QueryValue(context.Background(), "postgres", &rows, "SELECT count(*) FROM navius_kv WHERE collection = 'exp'")
	if rows != 3 { // keep, long, k3
		t.Fatalf("%d rows left in exp after the sweep, want 3", rows)
	}

	const restartTTL = 6 * time.Second
	put := time.Now()
	pgWant(t, a, 204, "PUT", fmt.Sprintf("/api/v1/exp/r?ttl=%s", restartTTL), "across a restart")
	_ = a.Stop(t)
	_ = b.Stop(t)
	c := serve(t, bin, t.TempDir(), env)
	if _, etag := pgWant(t, c, 200, "GET", "/api/v1/exp/long", ""); etag != longETag {
		t.Fatalf("long's ETag after the restart = %s, want %s", etag, longETag)
	}
	if status, _, _ := pgReq(t, c, "GET", "/api/v1/exp/r", ""); status != 200 && time.Since(put) < restartTTL-time.Second {
		t.Fatalf("GET r after the restart, before its expiry = %d", status)
	}
	harness.WaitFor(t, "r to expire after the restart", restartTTL+10*time.Second, func() bool {
		s, _, _ := pgReq(t, c, "GET", "/api/v1/exp/r", "")
		return s == 404
	})
	if got := pgKeys(pgWalk(t, c, "exp", 2)); got != "k3,keep,long" {
		t.Fatalf("walk after the restart and r's expiry: %s", got)
	}
	_ = c.Stop(t)
}

// TestPostgresBatchCrash kills navius with SIGKILL at random moments under
// concurrent batch load (each batch puts four keys, two in each of two
// collections, all with the batch's id as value) on a PostgreSQL with
// fsync on. After the restart every batch ever sent is wholly present or
// wholly absent, and every acknowledged batch is present.
func TestPostgresBatchCrash(t *testing.T) {
	bin, _ := binary(t, pgFeatures)
	srv := pgtest.Start(t, pgtest.Options{Durable: true})
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL("postgres"), "NAVIUS_DATABASE_MAX_CONNECTIONS=16", "NAVIUS_LOG_ACCESS=false"}
	dir := t.TempDir()
	sent := map[string]bool{} // batch id: acknowledged
	cycles := durabilityCycles()
	for c := range cycles {
		p := serve(t, bin, dir, env)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan map[string]bool)
		go func() { done <- batchLoad(ctx, p, 8, fmt.Sprintf("c%d", c)) }()
		time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond)
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.Done
		cancel()
		acked := 0
		for id, ok := range <-done {
			sent[id] = ok
			if ok {
				acked++
			}
		}
		if acked == 0 {
			t.Fatalf("cycle %d: no batch was acknowledged before the kill", c)
		}
		t.Logf("cycle %d: %d batches acknowledged before SIGKILL", c, acked)
	}
	p := serve(t, bin, dir, env)
	found := map[string]int{}
	for _, coll := range []string{"batch-a", "batch-b"} {
		for _, it := range pgWalk(t, p, coll, 1000) {
			if !strings.HasPrefix(it.Key, it.Value+"-") {
				t.Fatalf("%s/%s holds %q", coll, it.Key, it.Value)
			}
			found[it.Value]++
		}
	}
	acked, whole := 0, 0
	for id, ok := range sent {
		n := found[id]
		switch {
		case n != 0 && n != 4:
			t.Errorf("batch %s is partly there: %d of its 4 keys", id, n)
		case ok && n != 4:
			t.Errorf("acknowledged batch %s is missing", id)
		}
		if ok {
			acked++
		}
		if n == 4 {
			whole++
		}
	}
	for id := range found {
		if _, ok := sent[id]; !ok {
			t.Errorf("batch %s was never sent", id)
		}
	}
	t.Logf("%d cycles: %d batches sent, %d acknowledged, %d present (all whole)", cycles, len(sent), acked, whole)
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// batchLoad sends batches from concurrent writers until ctx ends and
// returns every batch sent, with whether it was acknowledged (200).
func batchLoad(ctx context.Context, p *proc, writers int, prefix string) map[string]bool {
	sent := map[string]bool{}
	writeUntil(ctx, writers, prefix, func(id string) *http.Request {
		var ops []string
		for j := range 4 {
			ops = append(ops, fmt.Sprintf(`{"op":"put","collection":"batch-%c","key":"%s-%d","value":%q}`, "ab"[j%2], id, j, id))
		}
		req, _ := http.NewRequest("POST", p.URL+"/api/v1/_batch", strings.NewReader(`{"operations":[`+strings.Join(ops, ",")+`]}`))
		req.Header.Set("Content-Type", "application/json")
		return req
	}, func(id string, status int) { sent[id] = status == http.StatusOK })
	return sent
}
