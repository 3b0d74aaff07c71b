// Command watchbench measures watch fan-out on one navius: it opens many
// watch streams on one collection, writes at a fixed rate, and reports the
// delivery latency (from the start of the write's request to the event
// read by a watcher), the CPU navius used, and its memory per watcher
// (RSS with the streams open and idle, less RSS before).
//
//	go run ./bench/watchbench -navius bin/navius -watchers 1000 -rate 1000 -duration 10s
//
// The watchers are plain HTTP streams read by this program, which shares
// the machine with navius: on few cores, what it spends reading them is
// taken from navius.
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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
)

var (
	naviusBin = flag.String("navius", "bin/navius", "navius binary")
	watchers  = flag.Int("watchers", 1000, "watch streams to open")
	rate      = flag.Int("rate", 1000, "writes per second")
	duration  = flag.Duration("duration", 10*time.Second, "how long to write")
	keys      = flag.Int("keys", 100, "keys the writes cycle through")
	buffer    = flag.Int("buffer", 256, "watch.buffer: events a stream may fall behind before it is cut off")
	writers   = flag.Int("writers", 64, "concurrent writers (each waits for its answer before its next write)")
	extra     = flag.String("args", "", "more navius serve arguments, space-separated (e.g. --pprof-listen 127.0.0.1:6061)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		load.Fail("watchbench", err)
	}
}

func run() error {
	args := []string{"serve", "--listen", "{addr}", "--database-url", "memory://", "--cache-url", "none", "--log-access=false",
		"--watch-max-watchers", strconv.Itoa(*watchers + 10), "--watch-buffer", strconv.Itoa(*buffer)}
	srv, err := load.Start(load.Spec{Name: "navius", Bin: *naviusBin, Ready: "/readyz", Args: append(args, strings.Fields(*extra)...)})
	if err != nil {
		return err
	}
	defer srv.Stop()
	time.Sleep(500 * time.Millisecond)
	rssBefore := srv.RSSKiB()

	// The streams, each read by a goroutine that records, per put, the
	// time since its write began (the value is that start, UnixNano).
	lat := make([][]time.Duration, *watchers)
	var events, resyncs atomic.Int64
	var opened, done sync.WaitGroup
	conns := make([]net.Conn, *watchers)
	addr := strings.TrimPrefix(srv.Base, "http://")
	for i := range *watchers {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		conns[i] = c
		fmt.Fprintf(c, "GET /api/v1/bench?watch=1 HTTP/1.1\r\nHost: navius\r\n\r\n")
		opened.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			r := bufio.NewReaderSize(c, 64<<10)
			resp, err := http.ReadResponse(r, nil)
			if err != nil || resp.StatusCode != 200 {
				fmt.Fprintf(os.Stderr, "watcher %d: %v %v\n", i, err, resp)
				opened.Done()
				return
			}
			opened.Done()
			body := bufio.NewReaderSize(resp.Body, 64<<10)
			mine := make([]time.Duration, 0, *rate*int(duration.Seconds()+1))
			defer func() { lat[i] = mine }()
			for {
				line, err := body.ReadSlice('\n')
				if err != nil {
					return
				}
				if !bytes.HasPrefix(line, []byte("data: ")) {
					if bytes.HasPrefix(line, []byte("event: resync")) {
						resyncs.Add(1)
					}
					continue
				}
				now := time.Now()
				j := bytes.Index(line, []byte(`"value":"`))
				if j < 0 {
					continue
				}
				v := line[j+9:]
				v = v[:bytes.IndexByte(v, '"')]
				sent, _ := strconv.ParseInt(string(v), 10, 64)
				mine = append(mine, now.Sub(time.Unix(0, sent)))
				events.Add(1)
			}
		}()
	}
	opened.Wait()
	time.Sleep(time.Second)
	runtime.GC()
	rssOpen := srv.RSSKiB()

	// Writes at a fixed rate, from enough writers that slow answers do not
	// hold the schedule up.
	total := *rate * int(duration.Seconds())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *writers}}
	cpu0, self0 := cpuTime(srv.Cmd.Process.Pid), cpuTime(os.Getpid())
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var peakRSS atomic.Int64
	stopRSS := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopRSS:
				return
			case <-time.After(200 * time.Millisecond):
				if r := srv.RSSKiB(); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
			}
		}
	}()
	for w := range *writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += *writers {
				at := start.Add(time.Duration(i) * time.Second / time.Duration(*rate))
				time.Sleep(time.Until(at))
				sent := time.Now().UnixNano()
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/bench/k%d", srv.Base, i%*keys), strings.NewReader(strconv.FormatInt(sent, 10)))
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != 204 {
					if failed.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "a write failed: %v %v\n", err, resp)
					}
				}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	wrote := time.Since(start)
	// Let the last events arrive.
	// Let the last events arrive (until none came for a second: streams
	// cut off for falling behind never get theirs).
	want := int64(total) * int64(*watchers)
	lastTime, lastCount := time.Now(), events.Load()
	for events.Load() < want && time.Since(lastTime) < time.Second {
		time.Sleep(20 * time.Millisecond)
		if n := events.Load(); n != lastCount {
			lastTime, lastCount = time.Now(), n
		}
	}
	cpu, self := cpuTime(srv.Cmd.Process.Pid)-cpu0, cpuTime(os.Getpid())-self0
	elapsed := lastTime.Sub(start)
	close(stopRSS)
	metrics := scrape(srv.Base)
	for _, c := range conns {
		c.Close()
	}
	done.Wait()

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	q := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(p*float64(len(all)-1))].Round(10 * time.Microsecond)
	}
	fmt.Printf("watchers %d, writes %d in %s (%.0f/s, %d failed), GOMAXPROCS of this program %d, cores %d\n",
		*watchers, total, wrote.Round(time.Millisecond), float64(total)/wrote.Seconds(), failed.Load(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("events delivered %d of %d (%.2f%%), resyncs %d; navius: %s\n", len(all), want, 100*float64(len(all))/float64(want), resyncs.Load(), metrics)
	fmt.Printf("delivery latency (write started -> event read): p50 %s, p90 %s, p99 %s, max %s\n", q(0.5), q(0.9), q(0.99), q(1))
	fmt.Printf("navius CPU: %.2f cores over %s (%.1f µs per delivered event); this program (writers and readers) %.2f cores; load average %s\n",
		cpu.Seconds()/elapsed.Seconds(), elapsed.Round(time.Millisecond), float64(cpu.Microseconds())/float64(max(len(all), 1)),
		self.Seconds()/elapsed.Seconds(), loadAverage())
	fmt.Printf("navius RSS: %.1f MiB before, %.1f MiB with %d idle streams (%.1f KiB per watcher), peak %.1f MiB while writing\n",
		float64(rssBefore)/1024, float64(rssOpen)/1024, *watchers, float64(rssOpen-rssBefore)/float64(*watchers), float64(peakRSS.Load())/1024)
	return nil
}

// cpuTime is a process's user and system CPU time so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// scrape reads the watch metrics.
func scrape(base string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return "no metrics: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "navius_watch_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, ", ")
}
