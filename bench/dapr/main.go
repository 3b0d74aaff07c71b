// Command dapr compares navius with Dapr's state API on one redis-server:
// GET of one key, PUT (a Dapr save) of distinct keys, and conditional
// writes (If-Match on navius, a first-write save with the ETag on Dapr),
// each at -connections concurrent clients, in alternating rounds; then
// startup, RSS after the load and binary size.
//
// navius runs as shipped (its read-through cache and access log on), with
// its cache off (every GET reads Redis, as Dapr's does), and with its cache
// and access log off. daprd runs stock (metrics on, as Dapr ships) and with
// metrics off. Ratios are navius over daprd with metrics off, the stricter
// peer.
//
//	make build FEATURES=memory,redis BIN=bin/navius-redis
//	go run ./bench/dapr -navius bin/navius-redis -daprd /path/to/daprd
//
// (memory is the read-through cache of navius as shipped; with prometheus
// as well, navius grows by 2.5 MB.)
//
// Any daprd with the Redis state store works. One with nothing else, as
// measured in docs/BENCHMARKS.md (70,283,426 bytes): a module requiring
// github.com/dapr/dapr v1.18.1 (copy the replace directives of its go.mod)
// holding dapr's cmd/daprd/app/app.go as package main, without its import
// of cmd/daprd/components (which registers every component and panics
// without the stablecomponents tag) and with Run renamed run, plus
//
//	import (
//		"github.com/dapr/components-contrib/state/redis"
//		stateLoader "github.com/dapr/dapr/pkg/components/state"
//	)
//	func init() { stateLoader.DefaultRegistry.RegisterComponent(redis.NewRedisStateStore, "redis") }
//	func main() { run() }
//
// built with CGO_ENABLED=0 go build -trimpath -ldflags '-s -w'.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
	"github.com/navius-dev/navius/internal/harness"
)

var (
	naviusBin = flag.String("navius", "bin/navius-redis", "navius binary with the redis feature")
	daprdBin  = flag.String("daprd", "", "daprd binary with the Redis state store (required)")
	redisBin  = flag.String("redis-server", "redis-server", "redis-server binary")
	duration  = flag.Duration("duration", 10*time.Second, "load per round and scenario")
	rounds    = flag.Int("rounds", 3, "rounds, alternating the servers")
	conns     = flag.Int("connections", 64, "concurrent connections (wrk -c) and conditional-write clients")
	luaDir    = flag.String("lua", "bench/wrk", "directory of the wrk scripts")
	only      = flag.String("only", "", "comma list of servers to run (default all): shipped, nocache, bare, dapr, dapr-nometrics")
)

func main() {
	flag.Parse()
	if *daprdBin == "" {
		fail(fmt.Errorf("-daprd is required: the daprd binary to compare with (see go doc ./bench/dapr)"))
	}
	load.Prepare("dapr bench", []string{"wrk", *redisBin}, naviusBin, daprdBin, luaDir)
	if err := run(); err != nil {
		fail(err)
	}
}

func fail(err error) { load.Fail("dapr bench", err) }

// startRedis runs a private redis-server without persistence.
func startRedis() (addr string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "bench-redis-")
	if err != nil {
		return "", nil, err
	}
	addr, err = harness.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(*redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }
	for t0 := time.Now(); time.Since(t0) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		fmt.Fprint(c, "PING\r\n")
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if strings.HasPrefix(line, "+PONG") {
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("redis-server on %s did not answer PING", addr)
}

// target is one server under test and how to talk to it.
type target struct {
	name string
	srv  *load.Server
	// get is the path of the preloaded key; put the base URL path and wrk
	// script of the write scenario.
	get, put, putScript string
	// conditional makes one conditional write of value to key k, given
	// the ETag it last saw (empty: unknown), and returns the next one.
	conditional func(c *http.Client, k, etag string, value []byte) (string, error)
	size        int64
}

func naviusTarget(name, redis string, env ...string) (*target, error) {
	env = append(env, "NAVIUS_DATABASE_URL=redis://"+redis+"/0")
	s, err := load.Start(load.Spec{Name: name, Bin: *naviusBin, Args: []string{"serve", "--listen", "{addr}"}, Env: env, Ready: "/readyz"})
	if err != nil {
		return nil, err
	}
	t := &target{name: name, srv: s, get: "/api/v1/bench/k", putScript: "put.lua"}
	t.conditional = func(c *http.Client, k, etag string, value []byte) (string, error) {
		req, _ := http.NewRequest("PUT", s.Base+"/api/v1/cas/"+k, bytes.NewReader(value))
		if etag != "" {
			req.Header.Set("If-Match", etag)
		}
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return "", fmt.Errorf("conditional PUT: %s", resp.Status)
		}
		return resp.Header.Get("ETag"), nil
	}
	return t, put(s.Base+"/api/v1/bench/k", "PUT", bytes.Repeat([]byte("v"), 256))
}

func daprTarget(name, redis string, metrics bool) (*target, error) {
	dir, err := os.MkdirTemp("", "bench-dapr-")
	if err != nil {
		return nil, err
	}
	res := filepath.Join(dir, "resources")
	if err := os.MkdirAll(res, 0o755); err != nil {
		return nil, err
	}
	component := "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: statestore\nspec:\n  type: state.redis\n  version: v1\n  metadata:\n  - name: redisHost\n    value: " + redis + "\n"
	if err := os.WriteFile(filepath.Join(res, "statestore.yaml"), []byte(component), 0o644); err != nil {
		return nil, err
	}
	ports := make([]string, 3)
	for i := range ports {
		a, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		_, ports[i], _ = net.SplitHostPort(a)
	}
	appID := "bench-stock"
	if !metrics {
		appID = "bench-nometrics"
	}
	args := []string{"--mode", "standalone", "--app-id", appID, "--resources-path", res, "--dapr-http-port", "{port}",
		"--dapr-grpc-port", ports[0], "--dapr-internal-grpc-port", ports[1], "--metrics-port", ports[2], "--log-level", "warn"}
	if !metrics {
		config := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(config, []byte("apiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: bench\nspec:\n  metric:\n    enabled: false\n"), 0o644); err != nil {
			return nil, err
		}
		args = append(args, "--config", config)
	}
	s, err := load.Start(load.Spec{Name: name, Bin: *daprdBin, Args: args, Ready: "/v1.0/healthz"})
	if err != nil {
		return nil, err
	}
	t := &target{name: name, srv: s, get: "/v1.0/state/statestore/k", put: "/v1.0/state/statestore", putScript: "dapr-put.lua"}
	t.conditional = func(c *http.Client, k, etag string, value []byte) (string, error) {
		body := `[{"key":"cas-` + k + `","value":"` + string(value) + `"`
		if etag != "" {
			body += `,"etag":"` + etag + `","options":{"concurrency":"first-write"}`
		}
		body += `}]`
		resp, err := c.Post(s.Base+"/v1.0/state/statestore", "application/json", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return "", fmt.Errorf("conditional save with ETag %q: %s %s", etag, resp.Status, b)
		}
		// Dapr's Redis store counts versions: a save with ETag n makes
		// n+1, and answers no ETag, so the next one is known.
		if etag == "" {
			return daprETag(c, s.Base, "cas-"+k)
		}
		n, err := strconv.Atoi(etag)
		return strconv.Itoa(n + 1), err
	}
	return t, put(s.Base+"/v1.0/state/statestore", "POST", []byte(`[{"key":"k","value":"`+strings.Repeat("v", 256)+`"}]`))
}

func daprETag(c *http.Client, base, key string) (string, error) {
	resp, err := c.Get(base + "/v1.0/state/statestore/" + key)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("ETag"), nil
}

func put(url, method string, body []byte) error {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %s %s", method, url, resp.Status, b)
	}
	return nil
}

// conditionalLoad runs -connections clients, each chaining conditional
// writes to a key of its own for d, and returns the writes per second.
func conditionalLoad(t *target, d time.Duration, round int) (float64, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *conns)
	deadline := time.Now().Add(d)
	value := bytes.Repeat([]byte("c"), 256)
	for w := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			k := fmt.Sprintf("r%d-w%d", round, w)
			etag, err := t.conditional(c, k, "", value) // create; learn the ETag
			for err == nil && time.Now().Before(deadline) {
				if etag, err = t.conditional(c, k, etag, value); err == nil {
					done.Add(1)
				}
			}
			if err != nil {
				errs <- fmt.Errorf("%s: %v", t.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	return float64(done.Load()) / d.Seconds(), nil
}

func run() error {
	redis, stopRedis, err := startRedis()
	if err != nil {
		return err
	}
	defer stopRedis()
	var targets []*target
	want := func(n string) bool { return *only == "" || strings.Contains(","+*only+",", ","+n+",") }
	add := func(t *target, err error) error {
		if err != nil {
			return err
		}
		targets = append(targets, t)
		return nil
	}
	steps := []struct {
		key string
		fn  func() (*target, error)
	}{
		{"shipped", func() (*target, error) { return naviusTarget("navius as shipped", redis) }},
		{"nocache", func() (*target, error) { return naviusTarget("navius, cache off", redis, "NAVIUS_CACHE_URL=none") }},
		{"bare", func() (*target, error) {
			return naviusTarget("navius, cache and access log off", redis, "NAVIUS_CACHE_URL=none", "NAVIUS_LOG_ACCESS=false")
		}},
		{"dapr", func() (*target, error) { return daprTarget("daprd (stock)", redis, true) }},
		{"dapr-nometrics", func() (*target, error) { return daprTarget("daprd, metrics off", redis, false) }},
	}
	for _, st := range steps {
		if want(st.key) {
			if err := add(st.fn()); err != nil {
				return err
			}
		}
	}
	defer func() {
		for _, t := range targets {
			t.srv.Stop()
		}
	}()
	for _, t := range targets {
		if fi, err := os.Stat(t.srv.Cmd.Path); err == nil {
			t.size = fi.Size()
		}
	}

	type key struct{ target, scenario int }
	rps := map[key][]float64{}
	p99 := map[key][]float64{}
	scenarios := []string{"GET one key", "PUT distinct keys", "conditional write"}
	for round := range *rounds {
		for si := range scenarios {
			for ti, t := range targets {
				switch si {
				case 0, 1:
					url, script := t.srv.Base+t.get, ""
					if si == 1 {
						url, script = t.srv.Base+t.put, filepath.Join(*luaDir, t.putScript)
					}
					r, err := load.Wrk(url, script, *conns, *duration)
					if err != nil {
						return err
					}
					if r.Non2xx > 0 {
						return fmt.Errorf("%s, %s: %d answers were not 2xx", t.name, scenarios[si], r.Non2xx)
					}
					rps[key{ti, si}] = append(rps[key{ti, si}], r.RPS)
					p99[key{ti, si}] = append(p99[key{ti, si}], r.P99)
				case 2:
					r, err := conditionalLoad(t, *duration, round)
					if err != nil {
						return err
					}
					rps[key{ti, si}] = append(rps[key{ti, si}], r)
				}
			}
		}
	}

	peer := -1
	for i, t := range targets {
		if strings.Contains(t.name, "metrics off") {
			peer = i
		}
	}
	fmt.Printf("one redis-server; %d connections (wrk -t2 for GET and PUT; Go clients chaining conditional writes, one key each); %s per round, %d rounds alternating; medians; ratios over daprd with metrics off\n\n", *conns, *duration, *rounds)
	fmt.Print("| server |")
	for _, s := range scenarios {
		fmt.Printf(" %s /s | ratio |", s)
	}
	fmt.Println(" GET p99 ms | PUT p99 ms | startup ms | RSS after load MiB | binary MB |")
	fmt.Println("|---|" + strings.Repeat("---:|", 2*len(scenarios)+5))
	for ti, t := range targets {
		fmt.Printf("| %s |", t.name)
		for si := range scenarios {
			v := load.Median(rps[key{ti, si}])
			ratio := "–"
			if peer >= 0 {
				ratio = fmt.Sprintf("%.2f", v/load.Median(rps[key{peer, si}]))
			}
			fmt.Printf(" %.0f | %s |", v, ratio)
		}
		fmt.Printf(" %.2f | %.2f | %.1f | %.1f | %.1f |\n", load.Median(p99[key{ti, 0}]), load.Median(p99[key{ti, 1}]),
			float64(t.srv.Startup.Microseconds())/1000, float64(t.srv.RSSKiB())/1024, float64(t.size)/1e6)
	}
	return nil
}
