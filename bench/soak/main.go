// Command soak runs a mixed read/write/query/delete load against a navius
// binary for a while and samples its RSS and goroutine count, to show that
// they level off and that no request fails.
//
//	go run ./bench/soak -bin bin/navius -duration 5m
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
	"github.com/navius-dev/navius/internal/harness"
)

func main() {
	bin := flag.String("bin", "bin/navius", "navius binary (default features)")
	duration := flag.Duration("duration", 5*time.Minute, "how long to load")
	workers := flag.Int("workers", 16, "concurrent clients")
	keys := flag.Int("keys", 5000, "distinct keys")
	every := flag.Duration("sample", 15*time.Second, "sampling interval")
	flag.Parse()
	load.Prepare("soak", nil, bin)
	if err := run(*bin, *duration, *workers, *keys, *every); err != nil {
		load.Fail("soak", err)
	}
}

type sample struct {
	at         time.Duration
	rssKiB     int64
	heapKiB    int64 // Go heap in use, from /metrics when prometheus is compiled in
	goroutines int
	requests   int64
}

func run(bin string, duration time.Duration, workers, keys int, every time.Duration) error {
	srv, err := load.Start(load.Spec{Name: "navius", Bin: bin, Ready: "/readyz",
		Args: []string{"serve", "--listen", "{addr}", "--log-level", "warn", "--log-access=false"}})
	if err != nil {
		return err
	}
	defer srv.Stop()
	base := srv.Base
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}

	var requests, failures atomic.Int64
	var firstErr atomic.Value
	stop := harness.Repeat(workers, 0, func(int) bool {
		k := strconv.Itoa(rand.IntN(keys))
		var req *http.Request
		ok := map[int]bool{}
		switch r := rand.IntN(100); {
		case r < 60:
			req, _ = http.NewRequest("GET", base+"/api/v1/soak/k"+k, nil)
			ok[200], ok[404] = true, true
		case r < 85:
			req, _ = http.NewRequest("PUT", base+"/api/v1/soak/k"+k, strings.NewReader(strings.Repeat("v", 64+rand.IntN(960))))
			ok[204] = true
		case r < 95:
			req, _ = http.NewRequest("GET", base+"/api/v1/soak?limit=50&filter=vvvv", nil)
			ok[200] = true
		default:
			req, _ = http.NewRequest("DELETE", base+"/api/v1/soak/k"+k, nil)
			ok[204], ok[404] = true, true
		}
		resp, err := client.Do(req)
		requests.Add(1)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if !ok[resp.StatusCode] {
				err = fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
			}
		}
		if err != nil {
			failures.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
		return true
	})

	var samples []sample
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	take := func() error {
		s, err := measure(srv, client)
		if err != nil {
			return err
		}
		s.at, s.requests = time.Since(start).Round(time.Second), requests.Load()
		samples = append(samples, s)
		fmt.Printf("%8s  rss %7.1f MiB  heap %6.1f MiB  goroutines %4d  requests %9d  failures %d\n",
			s.at, float64(s.rssKiB)/1024, float64(s.heapKiB)/1024, s.goroutines, s.requests, failures.Load())
		return nil
	}
	if err := take(); err != nil {
		return err
	}
	for time.Since(start) < duration {
		<-tick.C
		if err := take(); err != nil {
			return err
		}
	}
	stop()

	n := len(samples)
	fmt.Printf("requests %d in %s (%.0f/s), failures %d\n", requests.Load(), duration, float64(requests.Load())/duration.Seconds(), failures.Load())
	if failures.Load() > 0 {
		return fmt.Errorf("%d requests failed; first: %v (the server's log: %s)", failures.Load(), firstErr.Load(), srv.Log)
	}
	if n >= 4 {
		// Levelling off: the last quarter of the run must not be well above
		// its second quarter.
		mid, last := samples[n/4:n/2], samples[3*n/4:]
		if g0, g1 := maxOf(mid, func(s sample) int64 { return int64(s.goroutines) }), maxOf(last, func(s sample) int64 { return int64(s.goroutines) }); g1 > g0+10 {
			return fmt.Errorf("goroutines still growing: %d in the second quarter, %d in the last", g0, g1)
		}
		if r0, r1 := maxOf(mid, func(s sample) int64 { return s.rssKiB }), maxOf(last, func(s sample) int64 { return s.rssKiB }); r1 > r0*3/2 {
			return fmt.Errorf("RSS still growing: %d KiB in the second quarter, %d KiB in the last", r0, r1)
		}
	}
	return nil
}

func maxOf(ss []sample, f func(sample) int64) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, f(s))
	}
	return m
}

// measure reads the server's RSS and the goroutine count from the
// environment health indicator.
func measure(srv *load.Server, client *http.Client) (sample, error) {
	s := sample{rssKiB: srv.RSSKiB()}
	base := srv.Base
	resp, err := client.Get(base + "/health")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	var h struct {
		Components struct {
			Environment struct {
				Details struct {
					Goroutines int `json:"goroutines"`
				} `json:"details"`
			} `json:"environment"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return s, err
	}
	s.goroutines = h.Components.Environment.Details.Goroutines
	if resp, err := client.Get(base + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				s.heapKiB = int64(f / 1024)
			}
		}
	}
	return s, nil
}
