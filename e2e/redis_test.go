package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/redistest"
)

func TestRedisServe(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL(0)})
	exercise(t, p)
	if _, body := p.do(t, "GET", "/info", ""); !strings.Contains(body, `"database":"redis"`) {
		t.Fatalf("/info = %s", body)
	}
	_ = p.stop(t)
}

func goroutines(t *testing.T, p *proc) int {
	t.Helper()
	_, body := p.do(t, "GET", "/health", "")
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

// waitStatus polls path until it answers want, and returns how long it took.
func waitStatus(t *testing.T, p *proc, path string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if status, _ := p.do(t, "GET", path, ""); status == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s did not answer %d within %s", path, want, within)
		}
		time.Sleep(20 * time.Millisecond)
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
	if status, body := p.do(t, "PUT", "/api/v1/c/k", "v"); status != 204 {
		t.Fatalf("PUT = %d %s", status, body)
	}
	waitStatus(t, p, "/readyz", 200, 2*time.Second)
	before := goroutines(t, p)

	srv.Stop()
	took := waitStatus(t, p, "/readyz", 503, 2*time.Second)
	t.Logf("readyz false %s after Redis stopped", took)
	status, body := p.do(t, "GET", "/api/v1/c/uncached", "")
	if status != 503 || !strings.Contains(body, `"code":"unavailable"`) || !strings.Contains(body, "database is unavailable") {
		t.Fatalf("GET with Redis down = %d %s", status, body)
	}
	if status, _ := p.do(t, "PUT", "/api/v1/c/k2", "v"); status != 503 {
		t.Fatalf("PUT with Redis down = %d", status)
	}
	// Load during the outage must not leave goroutines behind.
	var wg sync.WaitGroup
	for i := range 200 {
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
	time.Sleep(200 * time.Millisecond)
	if during := goroutines(t, p); during > before+20 {
		t.Fatalf("goroutines grew from %d to %d during the outage", before, during)
	}

	srv.Restart()
	took = waitStatus(t, p, "/readyz", 200, 2*time.Second)
	t.Logf("readyz true %s after Redis came back", took)
	if status, body := p.do(t, "PUT", "/api/v1/c/k3", "back"); status != 204 {
		t.Fatalf("PUT after recovery = %d %s", status, body)
	}
	if status, body := p.do(t, "GET", "/api/v1/c/k3", ""); status != 200 || body != "back" {
		t.Fatalf("GET after recovery = %d %q", status, body)
	}
	_ = p.stop(t)
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
		if status, body := p.do(t, "PUT", "/api/v1/shared/k", v); status != 204 {
			t.Fatalf("PUT = %d %s", status, body)
		}
	}
	get := func(p *proc) string {
		status, body := p.do(t, "GET", "/api/v1/shared/k", "")
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
	_ = a.stop(t)
	_ = b.stop(t)
}
