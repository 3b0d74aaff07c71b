// Command httpbench loads navius and the floor program on loopback in the
// same run and prints their ratios: GET of a cached key, GET that misses the
// cache and reads the database, PUT, and the query path, each with p50 and
// p99 latency (wrk), plus startup to /readyz and idle RSS. Each scenario runs
// several rounds, alternating the two servers; medians are reported.
//
//	go run ./bench/httpbench -navius bin/navius -floor bin/floor -duration 10s -rounds 3
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
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
	if _, err := exec.LookPath("wrk"); err != nil {
		fail(fmt.Errorf("wrk is not on PATH: apt-get install -y wrk"))
	}
	for _, p := range []*string{naviusBin, floorBin, luaDir} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fail(err)
		}
		*p = abs
	}
	if err := run(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "httpbench:", err)
	os.Exit(1)
}

type server struct {
	name string
	cmd  *exec.Cmd
	base string
	dir  string
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start launches a server and returns it with its time to /readyz 200.
func start(name, bin string, args ...string) (*server, time.Duration) {
	dir, err := os.MkdirTemp("", "httpbench-")
	if err != nil {
		fail(err)
	}
	addr := freeAddr()
	cmd := exec.Command(bin, append(args, "--listen", addr)...)
	cmd.Dir = dir
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	s := &server{name: name, cmd: cmd, base: "http://" + addr, dir: dir}
	client := &http.Client{Timeout: 100 * time.Millisecond}
	for time.Since(t0) < 10*time.Second {
		if resp, err := client.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, time.Since(t0)
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	fail(fmt.Errorf("%s did not become ready", name))
	return nil, 0
}

func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
}

func (s *server) rssKiB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// preload PUTs n keys with 256-byte values into the bench collection.
func (s *server) preload(n int) {
	client := &http.Client{}
	val := bytes.Repeat([]byte("v"), 256)
	for i := range n {
		req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/bench/k%06d", s.base, i), bytes.NewReader(val))
		resp, err := client.Do(req)
		if err != nil {
			fail(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			fail(fmt.Errorf("%s preload: status %d", s.name, resp.StatusCode))
		}
	}
}

type result struct {
	rps, p50, p99 float64 // requests/s, ms, ms
	non2xx        int
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctRE    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)`)
	non2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func wrk(url string, script string) result {
	args := []string{"-t2", "-c" + strconv.Itoa(*conns), "-d" + duration.String(), "--latency"}
	if script != "" {
		args = append(args, "-s", filepath.Join(*luaDir, script))
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("wrk %s: %v\n%s", url, err, out))
	}
	var r result
	if m := rpsRE.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range pctRE.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		switch string(m[3]) {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if string(m[1]) == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if m := non2xxRE.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	return r
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

type scenario struct {
	name   string
	path   string // GET path, or "" with a script
	script string
	// navius is which navius instance serves it.
	navius *server
}

func run() error {
	const keys = 10000
	// The default build as shipped, but without the per-request access log
	// line (the floor writes none); the miss path uses a second instance
	// without a cache so that every GET reads the database.
	nav, navStart := start("navius", *naviusBin, "serve", "--log-access=false", "--log-level", "warn")
	defer nav.stop()
	navIdle := nav.rssKiB()
	navMiss, _ := start("navius (no cache)", *naviusBin, "serve", "--log-access=false", "--log-level", "warn", "--cache-url", "none")
	defer navMiss.stop()
	floor, floorStart := start("floor", *floorBin, "serve")
	defer floor.stop()
	floorIdle := floor.rssKiB()
	for _, s := range []*server{nav, navMiss, floor} {
		s.preload(keys)
	}

	scenarios := []scenario{
		{name: "GET cache hit", path: "/api/v1/bench/k000042", navius: nav},
		{name: "GET miss to the database", script: "get-random.lua", navius: navMiss},
		{name: "PUT (bolt, committed)", script: "put.lua", navius: nav},
		{name: "query (first 50)", path: "/api/v1/bench?limit=50", navius: nav},
	}
	fmt.Printf("wrk -t2 -c%d -d%s, %d rounds alternating, medians; %d keys preloaded\n\n", *conns, duration, *rounds, keys)
	fmt.Println("| scenario | navius req/s | floor req/s | ratio | navius p50 / p99 ms | floor p50 / p99 ms |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, sc := range scenarios {
		var nr, fr [3][]float64
		for range *rounds {
			for i, s := range []*server{sc.navius, floor} {
				r := wrk(s.base+sc.path, sc.script)
				if r.non2xx > 0 && sc.script != "get-random.lua" {
					return fmt.Errorf("%s on %s: %d non-2xx responses", sc.name, s.name, r.non2xx)
				}
				dst := &nr
				if i == 1 {
					dst = &fr
				}
				dst[0] = append(dst[0], r.rps)
				dst[1] = append(dst[1], r.p50)
				dst[2] = append(dst[2], r.p99)
			}
		}
		fmt.Printf("| %s | %.0f | %.0f | %.3f | %.2f / %.2f | %.2f / %.2f |\n", sc.name,
			median(nr[0]), median(fr[0]), median(nr[0])/median(fr[0]),
			median(nr[1]), median(nr[2]), median(fr[1]), median(fr[2]))
	}
	fmt.Printf("\n| | navius | floor |\n|---|---:|---:|\n")
	fmt.Printf("| startup to /readyz 200 (one start; see bench/startup for a median) | %.1f ms | %.1f ms |\n",
		float64(navStart.Microseconds())/1000, float64(floorStart.Microseconds())/1000)
	fmt.Printf("| idle RSS after startup | %.1f MiB | %.1f MiB |\n", float64(navIdle)/1024, float64(floorIdle)/1024)
	return nil
}
