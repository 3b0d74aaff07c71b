// Command httpbench loads navius and the floor program on loopback in the
// same run and prints their ratios: GET of a cached key, GET that misses the
// cache and reads the database, PUT, and the query path, each with p50 and
// p99 latency (wrk), plus startup to /readyz and idle RSS. navius runs as
// shipped (log level info, one access line per request, written to a file
// as a service manager would keep it) and, beside it, with the access log
// off. Each scenario runs several rounds, alternating the servers; medians
// are reported.
//
//	go run ./bench/httpbench -navius bin/navius -floor bin/floor -duration 10s -rounds 3
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
)

var (
	naviusBin = flag.String("navius", "bin/navius", "navius binary (default features)")
	floorBin  = flag.String("floor", "bin/floor", "floor binary (bench/floor)")
	duration  = flag.Duration("duration", 10*time.Second, "wrk duration per round")
	rounds    = flag.Int("rounds", 3, "rounds per scenario")
	conns     = flag.Int("connections", 64, "wrk connections")
	luaDir    = flag.String("lua", "bench/wrk", "directory of wrk scripts")
)

func main() {
	flag.Parse()
	load.Prepare("httpbench", []string{"wrk"}, naviusBin, floorBin, luaDir)
	if err := run(); err != nil {
		fail(err)
	}
}

func fail(err error) { load.Fail("httpbench", err) }

// server is a navius or floor process under load.
type server struct{ *load.Server }

// start launches a server and returns it with its time to /readyz 200.
func start(name, bin string, args ...string) (*server, time.Duration) {
	s, err := load.Start(load.Spec{Name: name, Bin: bin, Args: append(args, "--listen", "{addr}"), Ready: "/readyz"})
	if err != nil {
		fail(err)
	}
	return &server{s}, s.Startup
}

func (s *server) stop() { s.Stop() }

// truncateLog empties the server's log file between rounds (it writes in
// append mode, so it goes on at the new end).
func (s *server) truncateLog() { _ = os.Truncate(s.Log, 0) }

var droppedRE = regexp.MustCompile(`(?m)^navius_access_log_dropped_total (\S+)`)

// droppedLines reads the access lines navius dropped from its /metrics.
func (s *server) droppedLines() string {
	resp, err := http.Get(s.Base + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := droppedRE.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return "?"
}

func (s *server) rssKiB() int64 { return s.RSSKiB() }

// preload PUTs n keys with 256-byte values into the bench collection.
func (s *server) preload(n int) {
	client := &http.Client{}
	val := bytes.Repeat([]byte("v"), 256)
	for i := range n {
		req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/bench/k%06d", s.Base, i), bytes.NewReader(val))
		resp, err := client.Do(req)
		if err != nil {
			fail(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			fail(fmt.Errorf("%s preload: status %d", s.Name, resp.StatusCode))
		}
	}
}

func wrk(url string, script string) load.Result {
	if script != "" {
		script = filepath.Join(*luaDir, script)
	}
	r, err := load.Wrk(url, script, *conns, *duration)
	if err != nil {
		fail(err)
	}
	return r
}

type scenario struct {
	name   string
	path   string // GET path, or "" with a script
	script string
	// shipped and off are the navius instances that serve it: as shipped,
	// and with the access log off.
	shipped, off *server
}

func run() error {
	const keys = 10000
	// The default build as shipped; the same with the access log off; and,
	// for the miss path, both without a cache so that every GET reads the
	// database.
	nav, navStart := start("navius", *naviusBin, "serve")
	defer nav.stop()
	navIdle := nav.rssKiB()
	navOff, _ := start("navius (access log off)", *naviusBin, "serve", "--log-access=false")
	defer navOff.stop()
	navMiss, _ := start("navius (no cache)", *naviusBin, "serve", "--cache-url", "none")
	defer navMiss.stop()
	navMissOff, _ := start("navius (no cache, access log off)", *naviusBin, "serve", "--cache-url", "none", "--log-access=false")
	defer navMissOff.stop()
	floor, floorStart := start("floor", *floorBin, "serve")
	defer floor.stop()
	floorIdle := floor.rssKiB()
	for _, s := range []*server{nav, navOff, navMiss, navMissOff, floor} {
		s.preload(keys)
	}

	scenarios := []scenario{
		{name: "GET cache hit", path: "/api/v1/bench/k000042", shipped: nav, off: navOff},
		{name: "GET miss to the database", script: "get-random.lua", shipped: navMiss, off: navMissOff},
		{name: "PUT (bolt, committed)", script: "put.lua", shipped: nav, off: navOff},
		{name: "query (first 50)", path: "/api/v1/bench?limit=50", shipped: nav, off: navOff},
	}
	fmt.Printf("wrk -t2 -c%d -d%s, %d rounds alternating, medians; %d keys preloaded\n", *conns, duration, *rounds, keys)
	fmt.Printf("navius as shipped: log level info, access log on (to a file); access log off: --log-access=false\n\n")
	fmt.Println("| scenario | navius as shipped req/s | ratio | p50 / p99 ms | p99 ratio | access log off req/s | ratio | p50 / p99 ms | floor req/s | floor p50 / p99 ms |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, sc := range scenarios {
		var res [3][3][]float64 // server (shipped, off, floor) x (req/s, p50, p99)
		for range *rounds {
			for i, s := range []*server{sc.shipped, sc.off, floor} {
				r := wrk(s.Base+sc.path, sc.script)
				s.truncateLog()
				if r.Non2xx > 0 && sc.script != "get-random.lua" {
					return fmt.Errorf("%s on %s: %d non-2xx responses", sc.name, s.Name, r.Non2xx)
				}
				res[i][0] = append(res[i][0], r.RPS)
				res[i][1] = append(res[i][1], r.P50)
				res[i][2] = append(res[i][2], r.P99)
			}
		}
		var m [3][3]float64
		for i := range m {
			for j := range m[i] {
				m[i][j] = load.Median(res[i][j])
			}
		}
		fmt.Printf("| %s | %.0f | **%.3f** | %.2f / %.2f | %.2f | %.0f | %.3f | %.2f / %.2f | %.0f | %.2f / %.2f |\n", sc.name,
			m[0][0], m[0][0]/m[2][0], m[0][1], m[0][2], m[0][2]/m[2][2],
			m[1][0], m[1][0]/m[2][0], m[1][1], m[1][2],
			m[2][0], m[2][1], m[2][2])
	}
	fmt.Printf("\naccess lines dropped as shipped (navius_access_log_dropped_total): %s (cached), %s (no cache)\n", nav.droppedLines(), navMiss.droppedLines())
	fmt.Printf("\n| | navius | floor |\n|---|---:|---:|\n")
	fmt.Printf("| startup to /readyz 200 (one start; see bench/startup for a median) | %.1f ms | %.1f ms |\n",
		float64(navStart.Microseconds())/1000, float64(floorStart.Microseconds())/1000)
	fmt.Printf("| idle RSS after startup | %.1f MiB | %.1f MiB |\n", float64(navIdle)/1024, float64(floorIdle)/1024)
	return nil
}
