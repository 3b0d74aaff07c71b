package e2e

// Abuse and overload (issue 21): a real navius under thousands of idle or
// slow connections, failed logins, abusive list requests, scans past their
// deadline and a shutdown with every sink unreachable. Loops are bounded in
// count and time; latencies are reported (t.Logf), not asserted.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/redistest"
)

// Tokens of the abuse tests' servers.
const (
	abuseRead  = "read-token-0123456789abcdef"
	abuseAdmin = "admin-token-0123456789abcdef"
	abuseAuth  = "NAVIUS_AUTH_TOKENS=read:" + abuseRead + ",admin:" + abuseAdmin
)

// addrOf is the host:port of p's listener.
func addrOf(p *proc) string { return strings.TrimPrefix(p.URL, "http://") }

// dialFrom connects to addr from the loopback address from (127.0.0.x:
// Linux routes all of 127/8 to lo, so each is another client).
func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	return d.Dial("tcp", addr)
}

// needAliases skips a test on a system where 127.0.0.2 is not loopback
// (Linux routes all of 127/8 to lo; macOS only 127.0.0.1).
func needAliases(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := dialFrom("127.0.0.2", ln.Addr().String())
	if err != nil {
		t.Skipf("cannot connect from 127.0.0.2, which these tests use as a second client: %v", err)
	}
	c.Close()
}

// clientFrom is an HTTP client that connects from the loopback address
// from, a new connection per request.
func clientFrom(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// timed does GET path on p with token (none when empty) from client and
// returns the status and how long it took; status 0 is a failed request.
func timed(t *testing.T, client *http.Client, p *proc, path, token string) (int, time.Duration, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", p.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start), err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, time.Since(start), string(b)
}

// legitimate sends n /livez and n authorized GETs from 127.0.0.1 and
// returns their statuses and the latencies (median, worst) of each kind.
func legitimate(t *testing.T, p *proc, n int) (livez, get []int, lat string) {
	t.Helper()
	c := clientFrom("127.0.0.1")
	var dl, dg []time.Duration
	for range n {
		s, d, _ := timed(t, c, p, "/livez", "")
		livez, dl = append(livez, s), append(dl, d)
		s, d, _ = timed(t, c, p, "/api/v1/pets/tom", abuseRead)
		get, dg = append(get, s), append(dg, d)
	}
	return livez, get, fmt.Sprintf("/livez median %s worst %s; GET median %s worst %s", median(dl), slices.Max(dl), median(dg), slices.Max(dg))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(10 * time.Microsecond)
}

// mib is bytes in MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// all reports whether every status is want.
func all(statuses []int, want int) bool {
	for _, s := range statuses {
		if s != want {
			return false
		}
	}
	return true
}

// TestAbuseIdleConnections: 3,000 connections from one client, each idle
// after a GET /livez, against server.max_connections=1000: legitimate
// /livez and authorized GETs from another client are answered, and the
// idle connections closed to make room are counted.
func TestAbuseIdleConnections(t *testing.T) {
	needAliases(t)
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_SERVER_MAX_CONNECTIONS=1000", abuseAuth, "NAVIUS_LOG_ACCESS=false"})
	addr := addrOf(p)
	rss0 := mib(rss(t, p))
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 3000 && time.Now().Before(deadline); i++ {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			continue
		}
		held = append(held, c)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
			if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	rss1 := mib(rss(t, p))
	livez, get, lat := legitimate(t, p, 20)
	t.Logf("%d idle connections opened by one client; meanwhile another's %s; RSS %.0f MiB before, %.0f MiB after",
		len(held), lat, rss0, rss1)
	if !all(livez, 200) || !all(get, 404) {
		t.Fatalf("legitimate requests under idle connections: /livez %v, GET %v", livez, get)
	}
	open := metric(t, p, abuseAdmin, `navius_connections_open{listener="api"}`)
	closed := metric(t, p, abuseAdmin, `navius_connections_closed_idle_total{listener="api"}`)
	t.Logf("open %v, idle closed to make room %v", open, closed)
	if open > 1000+20 || closed < float64(len(held))-1000 {
		t.Fatalf("open %v (bound 1000 and 20 for probes), idle closed %v of %d", open, closed, len(held))
	}
}

// slowBodies opens n connections from from, each sending a PUT of 1 MiB
// one byte per second, and keeps them going until the test ends.
func slowBodies(t *testing.T, p *proc, from string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < n && time.Now().Before(deadline); i++ {
		c, err := dialFrom(from, addrOf(p))
		if err != nil {
			continue
		}
		conns = append(conns, c)
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = fmt.Fprintf(c, "PUT /api/v1/slow/k%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nx", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // one more byte a second on each
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, c := range conns {
					_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
					_, _ = c.Write([]byte("x"))
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return conns
}

// TestAbuseSlowBodies: 3,000 connections sending bodies at a byte a
// second (authentication off: with it on, navius answers 401, then 429, at
// once and closes them). With the default per-client bound (a quarter of
// server.max_connections) the slow client holds 250 and another is served
// as usual; with the per-client bound lifted (and server.max_inflight,
// which would shed half of them) it holds all 1,000, and then probes are
// still answered from the probes' share while API requests get 503 at
// once, not a timeout.
func TestAbuseSlowBodies(t *testing.T) {
	needAliases(t)
	bin, _ := binary(t, "default")
	t.Run("per client bound", func(t *testing.T) {
		p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_SERVER_MAX_CONNECTIONS=1000", "NAVIUS_LOG_ACCESS=false"})
		rss0 := mib(rss(t, p))
		conns := slowBodies(t, p, "127.0.0.2", 3000)
		livez, get, lat := legitimate(t, p, 20)
		refused := metric(t, p, abuseAdmin, `navius_connections_refused_total{listener="api",reason="per_ip"}`)
		t.Logf("%d slow connections tried by one client, %v refused; another's %s; RSS %.0f MiB before, %.0f MiB after",
			len(conns), refused, lat, rss0, mib(rss(t, p)))
		if !all(livez, 200) || !all(get, 404) {
			t.Fatalf("legitimate requests under slow bodies: /livez %v, GET %v", livez, get)
		}
		if refused < float64(len(conns)-250) {
			t.Fatalf("%v refused of %d from a client bound to 250", refused, len(conns))
		}
	})
	t.Run("every connection held", func(t *testing.T) {
		p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_SERVER_MAX_CONNECTIONS=1000",
			"NAVIUS_SERVER_MAX_CONNECTIONS_PER_IP=100000", "NAVIUS_SERVER_MAX_INFLIGHT=0", "NAVIUS_LOG_ACCESS=false"})
		conns := slowBodies(t, p, "127.0.0.2", 3000)
		livez, get, lat := legitimate(t, p, 20)
		refused := metric(t, p, abuseAdmin, `navius_connections_refused_total{listener="api",reason="limit"}`)
		shed := metric(t, p, abuseAdmin, `navius_http_requests_shed_total{reason="max_connections"}`)
		t.Logf("%d slow connections tried, %v refused, %v requests shed on the probes' share; another client's %s", len(conns), refused, shed, lat)
		if !all(livez, 200) {
			t.Fatalf("probes with every connection held: %v", livez)
		}
		if !all(get, 503) || refused < 1 {
			t.Fatalf("API requests with every connection held: %v (want 503 at once), %v refused", get, refused)
		}
	})
}

// TestAbuseFailedAuth: 200 bad tokens from one client get 429 with
// Retry-After once auth.max_failures (10) have failed, and are counted; a
// good token from another client works meanwhile.
func TestAbuseFailedAuth(t *testing.T) {
	needAliases(t)
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", abuseAuth, "NAVIUS_LOG_ACCESS=false"})
	attacker, other := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")
	codes := map[int]int{}
	for i := range 200 {
		s, _, _ := timed(t, attacker, p, "/api/v1/pets/tom", fmt.Sprintf("guess-%016d", i))
		codes[s]++
	}
	s, d, body := timed(t, other, p, "/api/v1/pets/tom", abuseRead)
	t.Logf("200 bad tokens: %v; another client's good token: %d in %s", codes, s, d)
	if codes[401] != 10 || codes[429] != 190 || s != 404 {
		t.Fatalf("bad tokens: %v (want 10 401s, then 429s); good token from another client: %d %s", codes, s, body)
	}
	if s, _, _ := timed(t, attacker, p, "/api/v1/pets/tom", abuseRead); s != 429 {
		t.Fatalf("the throttled client's good token: %d, want 429 (it must not tell a good guess)", s)
	}
	if n := metric(t, p, abuseAdmin, "navius_auth_throttled_total"); n < 190 {
		t.Fatalf("navius_auth_throttled_total %v, want at least 190", n)
	}
}

// nearMiss is a filter that matches no value fill writes, but only at its
// last byte: the costly case of a full-scan filter (bytes.Index and
// PostgreSQL's position() both slow down to a few hundred MB/s on it,
// where a byte that never occurs is skipped at memory speed).
var nearMiss = strings.Repeat("a", 100) + "b"

// fill writes n values of size bytes ("aaa...") to coll through the API,
// 8 at a time.
func fill(t *testing.T, p *proc, coll string, from, n, size int) {
	t.Helper()
	value := strings.Repeat("a", size)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := from; i < from+n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			status := 0
			for try := 0; try < 5 && (status == 0 || status == 503); try++ { // a write can take longer than a short database.timeout
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/%s/k%06d", p.URL, coll, i), strings.NewReader(value))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				status = resp.StatusCode
			}
			if status != 204 {
				errs <- fmt.Errorf("PUT k%06d = %d", i, status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// scanPastDeadline runs a full-scan filter over coll on p (whose
// database.timeout is 100ms) and wants 503; when the scan finished first
// (a machine faster than expected), it doubles the collection and tries
// again, up to 3 times. It returns how long the 503 took.
func scanPastDeadline(t *testing.T, p *proc, coll string, n, size int) time.Duration {
	t.Helper()
	fill(t, p, coll, 0, n, size)
	for try := 0; ; try++ {
		start := time.Now()
		status, body := p.Do(t, "GET", "/api/v1/"+coll+"?filter="+nearMiss+"&limit=1000", "")
		took := time.Since(start)
		switch {
		case status == 503 && strings.Contains(body, `"code":"unavailable"`) && strings.Contains(body, "in time"):
			t.Logf("a full-scan filter over %d MiB answered 503 in %s (database.timeout 100ms)", n*size>>20, took.Round(time.Millisecond))
			return took
		case status == 200 && try < 3:
			t.Logf("the scan over %d MiB finished within 100ms (%s): doubling the collection", n*size>>20, took)
			fill(t, p, coll, n, n, size)
			n *= 2
		default:
			t.Fatalf("a full-scan filter past database.timeout = %d %.300s (after %s)", status, body, took)
		}
	}
}

// TestAbuseScanTimeout: scans check their context on every engine, so a
// full-scan filter answers 503 once database.timeout (100ms) passes, and
// one whose client goes away ends as 499.
func TestAbuseScanTimeout(t *testing.T) {
	engines := []struct {
		name, features string
		env            func(t *testing.T, dir string) []string
	}{
		{"memory", "default", func(*testing.T, string) []string { return []string{"NAVIUS_DATABASE_URL=memory://"} }},
		{"bolt", "default", func(_ *testing.T, dir string) []string {
			return []string{"NAVIUS_DATABASE_URL=bolt://" + dir + "/data.db"}
		}},
		{"postgres", pgFeatures, func(t *testing.T, _ string) []string {
			return []string{"NAVIUS_DATABASE_URL=" + pgtest.Start(t).URL("postgres")}
		}},
		{"redis", "default,redis", func(t *testing.T, _ string) []string {
			return []string{"NAVIUS_DATABASE_URL=" + redistest.Start(t).URL(0)}
		}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			bin, _ := binary(t, e.features)
			dir := t.TempDir()
			env := append(e.env(t, dir), "NAVIUS_DATABASE_TIMEOUT=100ms", "NAVIUS_CACHE_URL=none")
			p := serve(t, bin, dir, env)
			scanPastDeadline(t, p, "big", 2048, 64<<10)
			if e.name != "memory" {
				return
			}
			// A client that gives up: its scan ends, logged as 499.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+"/api/v1/big?filter="+nearMiss+"&limit=1000", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			waitLog(t, p, `status=499`, `"status":499`)
		})
	}
}

// waitLog waits (up to 5 s) for a log line holding any of subs.
func waitLog(t *testing.T, p *proc, subs ...string) {
	t.Helper()
	for range 100 {
		logs := p.Logs()
		for _, s := range subs {
			if strings.Contains(logs, s) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line with %q\n%s", subs, tail(p.Logs(), 20))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestAbuseListBounded: a list over 1 MiB values with limit=1000 answers
// pages of at most server.max_page_bytes (4 MiB) plus one item, whose
// cursors walk every key exactly once, and four such walks at once leave
// the RSS within a small multiple of the bound (the values are binary:
// base64, never six bytes per byte).
func TestAbuseListBounded(t *testing.T) {
	for _, engine := range []string{"memory", "bolt"} {
		t.Run(engine, func(t *testing.T) {
			bin, _ := binary(t, "default")
			dir := t.TempDir()
			url := "memory://"
			if engine == "bolt" {
				url = "bolt://" + dir + "/data.db"
			}
			p := serve(t, bin, dir, []string{"NAVIUS_DATABASE_URL=" + url, "NAVIUS_CACHE_URL=none", "NAVIUS_LOG_ACCESS=false"})
			const n, size = 100, 1 << 20
			value := make([]byte, size)
			for i := range value {
				value[i] = byte(i * 131 % 251) // binary: NULs and control bytes
			}
			for i := range n {
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/big/k%03d", p.URL, i), strings.NewReader(string(value)))
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 204 {
					t.Fatalf("PUT k%03d: %v %v", i, resp, err)
				}
				resp.Body.Close()
			}
			rss0 := mib(rss(t, p))
			walk := func() (keys []string, pages int, err error) {
				cursor := ""
				for pages < 2*n { // a walk of n keys takes at most n pages
					var page struct {
						Items []struct {
							Key         string `json:"key"`
							Value       *string
							ValueBase64 []byte `json:"value_base64"`
						} `json:"items"`
						NextCursor string `json:"next_cursor"`
					}
					resp, err := http.Get(p.URL + "/api/v1/big?limit=1000&cursor=" + cursor)
					if err != nil {
						return nil, pages, err
					}
					err = json.NewDecoder(resp.Body).Decode(&page)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						return nil, pages, fmt.Errorf("page %d: %d %v", pages, resp.StatusCode, err)
					}
					pages++
					bytes := 0
					for _, it := range page.Items {
						if it.Value != nil || len(it.ValueBase64) != size {
							return nil, pages, fmt.Errorf("%s: %d bytes of value_base64 (text value %v), want %d", it.Key, len(it.ValueBase64), it.Value != nil, size)
						}
						bytes += len(it.Key) + len(it.ValueBase64)
						keys = append(keys, it.Key)
					}
					if len(page.Items) == 0 || bytes > 4<<20+size+16 {
						return nil, pages, fmt.Errorf("page %d: %d items, %d bytes: want at least one, at most 4 MiB plus one item", pages, len(page.Items), bytes)
					}
					if cursor = page.NextCursor; cursor == "" {
						return keys, pages, nil
					}
				}
				return nil, pages, fmt.Errorf("no end after %d pages", pages)
			}
			var wg sync.WaitGroup
			errs := make([]error, 4)
			walks := make([][]string, 4)
			pages := 0
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var np int
					walks[i], np, errs[i] = walk()
					if i == 0 {
						pages = np
					}
				}()
			}
			wg.Wait()
			rss1 := mib(rss(t, p))
			for i, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
				if len(walks[i]) != n || !slices.IsSorted(walks[i]) || len(slices.Compact(slices.Clone(walks[i]))) != n {
					t.Fatalf("walk %d: %d keys, want each of %d once", i, len(walks[i]), n)
				}
			}
			t.Logf("%s: %d MiB listed in %d pages, four walks at once: RSS %.0f MiB before, %.0f MiB after (+%.0f MiB; server.max_page_bytes 4 MiB)",
				engine, n*size>>20, pages, rss0, rss1, rss1-rss0)
			if rss1-rss0 > 64*4 {
				t.Fatalf("RSS grew %.0f MiB: more than 64 times server.max_page_bytes", rss1-rss0)
			}
		})
	}
}

// TestAbuseDisclosure: with Redis down, anonymous /readyz?verbose names
// what fails but not why, an admin sees why; API errors say what to do,
// with the request ID, never Redis's address; the log says why once.
func TestAbuseDisclosure(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL(0), abuseAuth, "NAVIUS_HEALTH_CHECK_INTERVAL=50ms",
		"NAVIUS_HEALTH_CACHE_TTL=10ms", "NAVIUS_LOG_ACCESS=false"})
	port := strconv.Itoa(srv.Port)
	srv.Stop()
	waitLog(t, p, `"msg":"database is down"`)
	c := clientFrom("127.0.0.1")
	status, _, anon := timed(t, c, p, "/readyz?verbose", "")
	if status != 503 || !strings.Contains(anon, "[-]database failed: reason withheld") || strings.Contains(anon, port) {
		t.Fatalf("anonymous /readyz?verbose = %d %q", status, anon)
	}
	if _, _, admin := timed(t, c, p, "/readyz?verbose", abuseAdmin); !strings.Contains(admin, port) {
		t.Fatalf("admin /readyz?verbose = %q: want the reason, with Redis's address", admin)
	}
	for range 5 {
		req, _ := http.NewRequest("GET", p.URL+"/api/v1/pets/tom", nil)
		req.Header.Set("Authorization", "Bearer "+abuseRead)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct {
				Message   string `json:"message"`
				RequestID string `json:"request_id"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != 503 || e.Error.RequestID == "" || !strings.Contains(e.Error.Message, "retry") || strings.Contains(string(body), port) ||
			resp.Header.Get("Retry-After") == "" {
			t.Fatalf("GET with Redis down = %d %s (Retry-After %q; Redis port %s)", resp.StatusCode, body, resp.Header.Get("Retry-After"), port)
		}
	}
	if n := strings.Count(p.Logs(), `"msg":"database is down"`); n != 1 || !strings.Contains(p.Logs(), port) {
		t.Fatalf("the cause was logged %d times (want once, with the address)", n)
	}
}

// blackhole accepts connections and never answers: an unreachable sink
// that does not even refuse.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// TestAbuseShutdownBudget: with Splunk and Dynatrace both unreachable (they
// accept and never answer), SIGTERM ends the process within one
// server.shutdown_timeout (3 s here, where the sinks' own timeouts add up
// to 15 s and more), and "stopped" is its last line.
func TestAbuseShutdownBudget(t *testing.T) {
	bin, _ := binary(t, "default,splunk,dynatrace")
	const budget = 3 * time.Second
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_SERVER_SHUTDOWN_TIMEOUT=" + budget.String(),
		"NAVIUS_SPLUNK_ENDPOINT=" + blackhole(t), "NAVIUS_SPLUNK_TOKEN=00000000-0000-0000-0000-000000000000",
		"NAVIUS_DYNATRACE_ENDPOINT=" + blackhole(t) + "/api/v2/metrics/ingest", "NAVIUS_DYNATRACE_TOKEN=dt0c01.abuse"})
	for i := range 50 { // lines for the sinks, spans for Dynatrace
		p.Do(t, "PUT", fmt.Sprintf("/api/v1/c/k%d", i), "v")
	}
	start := time.Now()
	_ = p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.Done:
	case <-time.After(budget + 10*time.Second):
		t.Fatalf("navius still runs %s after SIGINT, with server.shutdown_timeout %s\n%s", time.Since(start), budget, tail(p.Logs(), 10))
	}
	took := time.Since(start)
	lines := strings.Split(strings.TrimSpace(p.Logs()), "\n")
	var last struct {
		Msg string `json:"msg"`
	}
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	t.Logf("stopped %s after SIGINT (server.shutdown_timeout %s); last lines:\n%s", took.Round(time.Millisecond), budget, tail(p.Logs(), 12))
	if last.Msg != "stopped" || p.Cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("exit %d, last line %q: want 0 and \"stopped\"", p.Cmd.ProcessState.ExitCode(), lines[len(lines)-1])
	}
}

// TestAbusePprofListener: the pprof listener is served as the API is: its
// requests (refusals too) are in the access log with request IDs, idle
// connections are closed after server.idle_timeout, its connections are
// bounded per client, and a profile may run longer than
// server.write_timeout.
func TestAbusePprofListener(t *testing.T) {
	needAliases(t)
	bin, _ := binary(t, "default,pprof")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", abuseAuth, "NAVIUS_PPROF_LISTEN=127.0.0.1:0",
		"NAVIUS_SERVER_IDLE_TIMEOUT=300ms", "NAVIUS_SERVER_WRITE_TIMEOUT=500ms"})
	m := regexp.MustCompile(`admin listener serving /debug/pprof/ on (\S+) over HTTP`).FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("no admin listener address in the log:\n%s", p.Logs())
	}
	admin := &proc{URL: "http://" + m[1]}
	c := clientFrom("127.0.0.1")
	if s, _, _ := timed(t, c, admin, "/debug/pprof/", ""); s != 401 {
		t.Fatalf("pprof without a token = %d, want 401", s)
	}
	if s, _, body := timed(t, c, admin, "/debug/pprof/profile?seconds=1", abuseAdmin); s != 200 {
		t.Fatalf("a 1 s profile with a 500ms write timeout = %d %.200s", s, body)
	}
	waitLog(t, p, `"path":"/debug/pprof/profile","remote"`)
	if !strings.Contains(p.Logs(), `"path":"/debug/pprof/","remote"`) || !strings.Contains(p.Logs(), `"status":401`) {
		t.Fatalf("the refused pprof request is not in the access log:\n%s", tail(p.Logs(), 10))
	}
	// An idle connection is closed after server.idle_timeout.
	conn, err := dialFrom("127.0.0.1", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", abuseAdmin)
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	start := time.Now()
	if _, err := rd.ReadByte(); err != io.EOF {
		t.Fatalf("an idle pprof connection: %v, want it closed (EOF)", err)
	}
	t.Logf("an idle pprof connection closed after %s (server.idle_timeout 300ms)", time.Since(start).Round(time.Millisecond))
	// One client holds at most a quarter of the listener's 32 connections.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 20 {
		c, err := dialFrom("127.0.0.2", m[1])
		if err != nil {
			continue
		}
		held = append(held, c)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			resp.Body.Close()
		}
	}
	if n := metric(t, p, abuseAdmin, `navius_connections_closed_idle_total{listener="admin"}`); n < 12 {
		t.Fatalf("idle pprof connections closed to make room: %v, want at least 12 of 20 from a client bound to 8", n)
	}
}
