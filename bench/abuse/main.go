// Command abuse measures navius under abuse and overload (issue 21). Each
// scenario starts its own navius on a free loopback port (and PostgreSQL
// or Redis where it needs them) and prints what it measured:
//
//   - overload: a closed loop of -connections clients (4× what saturates
//     the machine) against GET of a cached key (memory) and of an uncached
//     one (PostgreSQL, pool of 10), without and with server.max_inflight:
//     throughput, p50 and p99 of the admitted requests, the share shed.
//
//   - conns: 3,000 idle and 3,000 slow-body connections from one client
//     against server.max_connections=1000: connections held, refused and
//     closed, legitimate requests' latency meanwhile, RSS.
//
//   - list: GET ?limit=1000 over 100 values of 1 MiB, one and four at once:
//     RSS before and after, on memory and bolt.
//
//   - scan: the cost of a full-scan filter per MiB on memory, bolt,
//     PostgreSQL and Redis, for a filter byte that never occurs and for a
//     near miss.
//
//     go run ./bench/abuse -navius bin/navius -scenarios overload,conns,list,scan
//
// bin/navius needs the features it loads: default,postgres,redis.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/redistest"
)

var (
	naviusBin = flag.String("navius", "bin/navius", "navius binary (features default,postgres,redis)")
	scenarios = flag.String("scenarios", "overload,conns,list,scan", "scenarios to run, comma separated")
	duration  = flag.Duration("duration", 10*time.Second, "load duration per overload run")
	conns     = flag.Int("connections", 512, "closed-loop clients of the overload scenario")
	honour    = flag.Bool("retry-after", false, "overload: a client refused with 503 waits its Retry-After before the next request (else it sends again at once)")
)

func main() {
	flag.Parse()
	load.Prepare("abuse", nil, naviusBin)
	for _, s := range strings.Split(*scenarios, ",") {
		var err error
		switch s {
		case "overload":
			err = overload()
		case "conns":
			err = connections()
		case "list":
			err = list()
		case "scan":
			err = scan()
		default:
			err = fmt.Errorf("no scenario %q (overload, conns, list, scan)", s)
		}
		if err != nil {
			fail(err)
		}
	}
}

func fail(err error) { load.Fail("abuse", err) }

// start runs navius with the environment env (NAVIUS_* settings).
func start(env ...string) (*load.Server, error) {
	return load.Start(load.Spec{Name: "navius", Bin: *naviusBin, Args: []string{"serve", "--listen", "{addr}"},
		Env: append([]string{"NAVIUS_LOG_ACCESS=false", "NAVIUS_DATABASE_URL=memory://"}, env...), Ready: "/readyz"})
}

func put(base, path string, body []byte) error {
	req, _ := http.NewRequest("PUT", base+path, strings.NewReader(string(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		return fmt.Errorf("PUT %s = %d", path, resp.StatusCode)
	}
	return nil
}

// ---- overload ----

// loadResult is one closed-loop run.
type loadResult struct {
	rps, p50, p99 float64 // admitted requests: per second, ms
	shed          float64 // share of the responses that were 503
	failed        int
}

// closedLoop runs n clients, each sending GET url again as soon as the
// last answer came, for d; latencies are kept per outcome.
func closedLoop(url string, n int, d time.Duration) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var admitted []float64
	var shed, failed int
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			var myShed, myFailed int
			for time.Now().Before(end) {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					myFailed++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				ms := float64(time.Since(t0).Microseconds()) / 1000
				if resp.StatusCode == 503 {
					myShed++
					if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && *honour {
						time.Sleep(time.Duration(secs) * time.Second)
					}
				} else {
					mine = append(mine, ms)
				}
			}
			mu.Lock()
			admitted = append(admitted, mine...)
			shed += myShed
			failed += myFailed
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(admitted)
	r := loadResult{failed: failed, rps: float64(len(admitted)) / d.Seconds()}
	if len(admitted) > 0 {
		r.p50, r.p99 = admitted[len(admitted)/2], admitted[len(admitted)*99/100]
	}
	if total := len(admitted) + shed; total > 0 {
		r.shed = float64(shed) / float64(total)
	}
	return r
}

func overload() error {
	fmt.Printf("== overload: %d closed-loop clients for %s each (after a 503: Retry-After honoured %v)\n", *conns, *duration, *honour)
	pg, err := pgtest.Launch(pgtest.Options{})
	if err != nil {
		return err
	}
	defer pg.Close()
	cases := []struct {
		name string
		env  []string
		path string
	}{
		{"memory, GET of a cached key", nil, "/api/v1/c/k"},
		{"postgres (pool 10, no cache), GET", []string{"NAVIUS_DATABASE_URL=" + pg.URL("postgres"), "NAVIUS_CACHE_URL=none", "NAVIUS_DATABASE_MAX_CONNECTIONS=10"}, "/api/v1/c/k"},
	}
	for _, c := range cases {
		for _, inflight := range []string{"0", "512", "64", "16"} {
			s, err := start(append(c.env, "NAVIUS_SERVER_MAX_INFLIGHT="+inflight)...)
			if err != nil {
				return err
			}
			if err := put(s.Base, c.path, []byte("value")); err != nil {
				s.Stop()
				return err
			}
			closedLoop(s.Base+c.path, 16, time.Second) // warm up
			r := closedLoop(s.Base+c.path, *conns, *duration)
			s.Stop()
			bound := "off"
			if inflight != "0" {
				bound = inflight
			}
			fmt.Printf("%-36s max_inflight %-4s  %8.0f admitted/s  p50 %7.2f ms  p99 %7.2f ms  shed %5.1f%%  failed %d\n",
				c.name, bound, r.rps, r.p50, r.p99, 100*r.shed, r.failed)
		}
	}
	return nil
}

// ---- connections ----

func dialFrom(from, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	return d.Dial("tcp", addr)
}

// legit times n GET /livez and n GET of a key from 127.0.0.1, a new
// connection each.
func legit(base string, n int) string {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	var out []string
	for _, path := range []string{"/livez", "/api/v1/pets/tom"} {
		var ms []float64
		codes := map[int]int{}
		for range n {
			t0 := time.Now()
			resp, err := c.Get(base + path)
			if err != nil {
				codes[0]++
				continue
			}
			resp.Body.Close()
			codes[resp.StatusCode]++
			ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
		}
		slices.Sort(ms)
		if len(ms) == 0 {
			ms = []float64{0}
		}
		out = append(out, fmt.Sprintf("%s %v median %.2f ms worst %.2f ms", path, codes, ms[len(ms)/2], ms[len(ms)-1]))
	}
	return strings.Join(out, "; ")
}

// metric reads one series from /metrics.
func metric(base, series string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return "-"
}

func connections() error {
	fmt.Println("== connections: 3,000 from 127.0.0.2 against server.max_connections=1000 (default per-client bound: 250)")
	for _, kind := range []string{"idle", "slow body", "slow body, no per-client bound"} {
		env := []string{"NAVIUS_SERVER_MAX_CONNECTIONS=1000"}
		if strings.HasSuffix(kind, "no per-client bound") {
			env = append(env, "NAVIUS_SERVER_MAX_CONNECTIONS_PER_IP=100000")
		}
		s, err := start(env...)
		if err != nil {
			return err
		}
		addr := strings.TrimPrefix(s.Base, "http://")
		rss0 := s.RSSKiB()
		var held []net.Conn
		var stop atomic.Bool
		t0 := time.Now()
		for i := range 3000 {
			c, err := dialFrom("127.0.0.2", addr)
			if err != nil {
				continue
			}
			held = append(held, c)
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			if kind == "idle" {
				fmt.Fprint(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					resp.Body.Close()
				}
			} else {
				fmt.Fprintf(c, "PUT /api/v1/slow/k%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\nx", i)
			}
		}
		opened := time.Since(t0)
		done := make(chan struct{})
		go func() { // a byte a second on the slow ones
			defer close(done)
			for !stop.Load() && kind != "idle" {
				time.Sleep(time.Second)
				for _, c := range held {
					_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
					_, _ = c.Write([]byte("x"))
				}
			}
		}()
		time.Sleep(time.Second)
		lat := legit(s.Base, 50)
		fmt.Printf("%-32s opened in %s; open %s, refused limit %s per_ip %s, idle closed %s, shed on the probes' share %s, shed at max_inflight %s; RSS %d -> %d MiB\n    legitimate: %s\n",
			kind, opened.Round(time.Millisecond), metric(s.Base, `navius_connections_open{listener="api"}`),
			metric(s.Base, `navius_connections_refused_total{listener="api",reason="limit"}`),
			metric(s.Base, `navius_connections_refused_total{listener="api",reason="per_ip"}`),
			metric(s.Base, `navius_connections_closed_idle_total{listener="api"}`),
			metric(s.Base, `navius_http_requests_shed_total{reason="max_connections"}`),
			metric(s.Base, `navius_http_requests_shed_total{reason="max_inflight"}`), rss0>>10, s.RSSKiB()>>10, lat)
		stop.Store(true)
		<-done
		for _, c := range held {
			c.Close()
		}
		s.Stop()
	}
	return nil
}

// ---- list ----

func list() error {
	fmt.Println("== list: GET ?limit=1000 over 100 values of 1 MiB (binary), server.max_page_bytes 4 MiB")
	for _, engine := range []string{"memory", "bolt"} {
		for _, parallel := range []int{1, 4} {
			env := []string{"NAVIUS_CACHE_URL=none"}
			if engine == "bolt" {
				env = append(env, "NAVIUS_DATABASE_URL=bolt://./data.db")
			}
			s, err := start(env...)
			if err != nil {
				return err
			}
			value := make([]byte, 1<<20)
			for i := range value {
				value[i] = byte(i * 131 % 251)
			}
			for i := range 100 {
				if err := put(s.Base, fmt.Sprintf("/api/v1/big/k%03d", i), value); err != nil {
					s.Stop()
					return err
				}
			}
			time.Sleep(500 * time.Millisecond)
			rss0 := s.RSSKiB()
			resetPeak(s)
			var wg sync.WaitGroup
			var size atomic.Int64
			t0 := time.Now()
			for range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := http.Get(s.Base + "/api/v1/big?limit=1000")
					if err == nil {
						n, _ := io.Copy(io.Discard, resp.Body)
						size.Store(n)
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			took := time.Since(t0)
			rss1, peak := s.RSSKiB(), peakKiB(s)
			fmt.Printf("%-6s %d at once: a %.1f MiB page in %s; RSS %d MiB before, peak %d MiB (+%d MiB), %d MiB after\n", engine, parallel,
				float64(size.Load())/(1<<20), took.Round(time.Millisecond), rss0>>10, peak>>10, (peak-rss0)>>10, rss1>>10)
			s.Stop()
		}
	}
	return nil
}

// resetPeak resets the process's peak RSS (VmHWM) to its RSS now.
func resetPeak(s *load.Server) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.Cmd.Process.Pid), []byte("5"), 0)
}

// peakKiB is the process's peak RSS since resetPeak.
func peakKiB(s *load.Server) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

// ---- scan ----

// redisServer starts redis-server on a free port, without persistence.
func redisServer() (url string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "abuse-redis-")
	if err != nil {
		return "", nil, err
	}
	srv, err := redistest.Launch(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return srv.URL(0), func() { srv.Close(); os.RemoveAll(dir) }, nil
}

func scan() error {
	const n, size = 4096, 64 << 10 // 256 MiB
	fmt.Printf("== scan: a full-scan filter over %d values of %d KiB (%d MiB), limit=1000, median of 3\n", n, size>>10, n*size>>20)
	pg, err := pgtest.Launch(pgtest.Options{})
	if err != nil {
		return err
	}
	defer pg.Close()
	redisURL, stopRedis, err := redisServer()
	if err != nil {
		return err
	}
	defer stopRedis()
	engines := []struct{ name, url string }{
		{"memory", "memory://"}, {"bolt", "bolt://./data.db"}, {"postgres", pg.URL("postgres")}, {"redis", redisURL},
	}
	value := []byte(strings.Repeat("a", size))
	filters := []struct{ name, filter string }{{"absent byte (z)", "z"}, {"near miss (a×100 b)", strings.Repeat("a", 100) + "b"}}
	for _, e := range engines {
		s, err := start("NAVIUS_DATABASE_URL="+e.url, "NAVIUS_CACHE_URL=none", "NAVIUS_DATABASE_TIMEOUT=60s", "NAVIUS_MEMORY_CAPACITY=2GiB")
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		var putErr atomic.Value
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := put(s.Base, fmt.Sprintf("/api/v1/big/k%06d", i), value); err != nil {
					putErr.Store(err)
				}
			}()
		}
		wg.Wait()
		if err, _ := putErr.Load().(error); err != nil {
			s.Stop()
			return fmt.Errorf("%s: %v", e.name, err)
		}
		for _, f := range filters {
			var ms []float64
			for range 3 {
				t0 := time.Now()
				resp, err := http.Get(s.Base + "/api/v1/big?limit=1000&filter=" + f.filter)
				if err != nil {
					s.Stop()
					return err
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `{"items":[]`) {
					s.Stop()
					return fmt.Errorf("%s: filter %s = %d %.200s", e.name, f.name, resp.StatusCode, body)
				}
				ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
			}
			med := load.Median(ms)
			note := ""
			if strings.Contains(string(mustGet(s.Base+"/api/v1/big?limit=1000&filter="+f.filter)), "next_cursor") {
				note = " (one page of several: the walk stops at its per-page budget)"
			}
			fmt.Printf("%-9s %-22s %8.1f ms for %d MiB: %.3f ms/MiB%s\n", e.name, f.name, med, n*size>>20, med/float64(n*size>>20), note)
		}
		s.Stop()
	}
	return nil
}

func mustGet(url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
