package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/redistest"
)

func TestRedisServe(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL(0)})
	exercise(t, p)
	if _, body := p.Do(t, "GET", "/info", ""); !strings.Contains(body, `"database":"redis"`) {
		t.Fatalf("/info = %s", body)
	}
	_ = p.Stop(t)
}

func goroutines(t *testing.T, p *proc) int {
	t.Helper()
	_, body := p.Do(t, "GET", "/health", "")
	var h struct {
		Components map[string]struct {
			Details map[string]any `json:"details"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/health: %v %s", err, body)
	}
	n, _ := h.Components["environment"].Details["goroutines"].(float64)
	return int(n)
}

// loadLeavesNoGoroutines sends n concurrent GETs while the database is
// away and checks that the goroutine count comes back near before.
func loadLeavesNoGoroutines(t *testing.T, p *proc, n, before int) {
	t.Helper()
	concurrentGets(p, n)
	time.Sleep(200 * time.Millisecond)
	if during := goroutines(t, p); during > before+20 {
		t.Fatalf("goroutines grew from %d to %d during the outage", before, during)
	}
}

// waitStatus polls path until it answers want, and returns how long it took.
func waitStatus(t *testing.T, p *proc, path string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if status, _ := p.Do(t, "GET", path, ""); status == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s did not answer %d within %s", path, want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOutage writes c/k through p, stops its database (named db) with
// stop: readiness turns false within 2 s, GET and PUT answer 503 saying
// the database is unavailable, 200 concurrent requests leave no goroutines
// behind; after restart, readiness turns true within 2 s and writes work.
func checkOutage(t *testing.T, p *proc, db string, stop, restart func()) {
	t.Helper()
	if status, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); status != 204 {
		t.Fatalf("PUT = %d %s", status, body)
	}
	waitStatus(t, p, "/readyz", 200, 2*time.Second)
	before := goroutines(t, p)

	stop()
	took := waitStatus(t, p, "/readyz", 503, 2*time.Second)
	t.Logf("readyz false %s after %s stopped", took, db)
	status, body := p.Do(t, "GET", "/api/v1/c/uncached", "")
	if status != 503 || !strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "database is unavailable") {
		t.Fatalf("GET with %s down = %d %s", db, status, body)
	}
	t.Logf("GET with %s down: %d %s", db, status, strings.TrimSpace(body))
	if status, body := p.Do(t, "PUT", "/api/v1/c/k2", "v"); status != 503 || !strings.Contains(body, `"code":"unavailable"`) {
		t.Fatalf("PUT with %s down = %d %s", db, status, body)
	}
	loadLeavesNoGoroutines(t, p, 200, before)

	restart()
	took = waitStatus(t, p, "/readyz", 200, 2*time.Second)
	t.Logf("readyz true %s after %s came back", took, db)
	if status, body := p.Do(t, "PUT", "/api/v1/c/k3", "back"); status != 204 {
		t.Fatalf("PUT after recovery = %d %s", status, body)
	}
	if status, body := p.Do(t, "GET", "/api/v1/c/k3", ""); status != 200 || body != "back" {
		t.Fatalf("GET after recovery = %d %q", status, body)
	}
}

// TestRedisOutage stops the real redis-server under a running navius: readiness
// turns false within 2 s, the API answers 503 saying the database is
// unavailable, goroutines do not pile up, and everything recovers by itself
// within 2 s of Redis coming back.
func TestRedisOutage(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL(0), "NAVIUS_LOG_ACCESS=false"})
	checkOutage(t, p, "Redis", srv.Stop, srv.Restart)
	_ = p.Stop(t)
}

// TestRedisTwoInstances: two navius processes share one Redis database, each
// with its in-process cache in front; a write through one is not served
// stale by the other once the change has crossed pub/sub.
func TestRedisTwoInstances(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL(0), "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h", "NAVIUS_LOG_ACCESS=false"}
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	put := func(p *proc, v string) {
		if status, body := p.Do(t, "PUT", "/api/v1/shared/k", v); status != 204 {
			t.Fatalf("PUT = %d %s", status, body)
		}
	}
	get := func(p *proc) string {
		status, body := p.Do(t, "GET", "/api/v1/shared/k", "")
		if status != 200 {
			t.Fatalf("GET = %d %s", status, body)
		}
		return body
	}
	var worst time.Duration
	for i := range 20 {
		v := fmt.Sprintf("v%d", i)
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		put(writer, v)
		start := time.Now()
		for got := get(reader); got != v; got = get(reader) {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("round %d: the other instance still serves %q for %q", i, got, v)
			}
			time.Sleep(time.Millisecond)
		}
		worst = max(worst, time.Since(start))
		// Both caches now hold v; reads keep agreeing.
		if got := get(writer); got != v {
			t.Fatalf("round %d: writer reads %q", i, got)
		}
	}
	t.Logf("worst time for a write to reach the other instance: %s", worst)
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// redisCLI runs a command against the test server with redis-cli (which
// comes with redis-server) and fails the test unless it answers OK or a
// number.
func redisCLI(t *testing.T, srv *redistest.Server, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port)}, args...)...).CombinedOutput()
	if err != nil || strings.HasPrefix(string(out), "(error)") || strings.HasPrefix(string(out), "ERR") {
		t.Fatalf("redis-cli %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// feedLive reads the redis_changes component of /health.
func feedLive(t *testing.T, p *proc) (bool, string) {
	t.Helper()
	_, body := p.Do(t, "GET", "/health", "")
	var h struct {
		Components map[string]struct {
			Status string `json:"status"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/health: %v %s", err, body)
	}
	c, ok := h.Components["redis_changes"]
	if !ok {
		t.Fatalf("/health has no redis_changes component: %s", body)
	}
	return c.Status == "UP", body
}

// TestRedisTwoInstancesFeedDown: with the other instance's change
// subscription refused (Redis ACL) while the database stays up, writes are
// not announced to it, so its local entries must expire after
// redis.fallback_ttl instead of the hour-long cache TTL; once the
// subscription is allowed again, it resubscribes by itself and invalidations
// flow again.
func TestRedisTwoInstancesFeedDown(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	env := []string{"NAVIUS_DATABASE_URL=" + srv.URL(0), "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h",
		"NAVIUS_REDIS_FALLBACK_TTL=300ms", "NAVIUS_LOG_ACCESS=false", "NAVIUS_HEALTH_CACHE_TTL=0"}
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	put := func(v string) {
		t.Helper()
		if status, body := a.Do(t, "PUT", "/api/v1/shared/k", v); status != 204 {
			t.Fatalf("PUT = %d %s", status, body)
		}
	}
	get := func() string {
		t.Helper()
		status, body := b.Do(t, "GET", "/api/v1/shared/k", "")
		if status != 200 {
			t.Fatalf("GET = %d %s", status, body)
		}
		return body
	}
	// converge waits until b serves want, and fails if it still serves the
	// old value after a bound far above the fallback TTL (a 1h entry that
	// was never dropped would stay).
	converge := func(want string) time.Duration {
		t.Helper()
		start := time.Now()
		for got := get(); got != want; got = get() {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("b still serves %q, want %q", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		harness.WaitFor(t, what, 10*time.Second, cond)
	}
	waitFor("b's subscription", func() bool { live, _ := feedLive(t, b); return live })

	// Refuse SUBSCRIBE and drop the subscribers' connections: the data
	// connections keep working, the subscriptions cannot come back.
	redisCLI(t, srv, "ACL", "SETUSER", "default", "-subscribe")
	redisCLI(t, srv, "CLIENT", "KILL", "TYPE", "pubsub")
	waitFor("b's subscription to drop", func() bool { live, _ := feedLive(t, b); return !live })
	if _, body := feedLive(t, b); !strings.Contains(body, `"status":"UP"`) {
		t.Fatalf("the subscription is not critical, yet /health is down: %s", body)
	}
	if status, _ := b.Do(t, "GET", "/readyz", ""); status != 200 {
		t.Fatalf("readyz = %d with only the subscription down", status)
	}
	for i := range 5 {
		v := fmt.Sprintf("down%d", i)
		put(v)
		converge(v) // b reads it from Redis (its entry of the last round expired)...
		put(v + "-next")
		took := converge(v + "-next") // ...and drops it by the fallback TTL, unannounced
		t.Logf("round %d: unannounced write seen by b after %s (fallback TTL 300ms)", i, took)
	}

	redisCLI(t, srv, "ACL", "SETUSER", "default", "+subscribe")
	waitFor("b to resubscribe by itself", func() bool { live, _ := feedLive(t, b); return live })
	waitFor("a to resubscribe by itself", func() bool { live, _ := feedLive(t, a); return live })
	for i := range 5 {
		v := fmt.Sprintf("up%d", i)
		put(v)
		converge(v)
		put(v + "-next")
		took := converge(v + "-next")
		t.Logf("round %d: announced write seen by b after %s", i, took)
	}
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// TestRedisHang freezes the real redis-server (SIGSTOP: connections stay
// open and new ones are accepted, nothing answers): readiness turns false
// within 2 s as for a stopped server, API calls answer 503 once the
// command timeouts expire instead of hanging, goroutines do not pile up, and
// everything recovers by itself when Redis continues.
func TestRedisHang(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL(0), "NAVIUS_LOG_ACCESS=false",
		"NAVIUS_REDIS_READ_TIMEOUT=500ms", "NAVIUS_REDIS_WRITE_TIMEOUT=500ms"})
	if status, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); status != 204 {
		t.Fatalf("PUT = %d %s", status, body)
	}
	waitStatus(t, p, "/readyz", 200, 2*time.Second)
	before := goroutines(t, p)

	srv.Pause()
	t.Cleanup(srv.Resume) // before Stop, or the frozen server cannot be reaped
	took := waitStatus(t, p, "/readyz", 503, 2*time.Second)
	t.Logf("readyz false %s after Redis froze", took)
	start := time.Now()
	status, body := p.Do(t, "GET", "/api/v1/c/uncached", "")
	if status != 503 || !strings.Contains(body, "database is unavailable") {
		t.Fatalf("GET with Redis frozen = %d %s", status, body)
	}
	t.Logf("GET with Redis frozen answered 503 after %s", time.Since(start))
	loadLeavesNoGoroutines(t, p, 50, before)

	srv.Resume()
	took = waitStatus(t, p, "/readyz", 200, 2*time.Second)
	t.Logf("readyz true %s after Redis continued", took)
	if status, body := p.Do(t, "GET", "/api/v1/c/k", ""); status != 200 || body != "v" {
		t.Fatalf("GET after recovery = %d %q", status, body)
	}
	_ = p.Stop(t)
}
