package interop

// The real navius binary, built with FEATURES=default,splunk, logging to the
// in-process HEC receiver: zero loss on SIGTERM, the token kept out of every
// output; and (opt-in) the throughput measurement.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/splunk"
)

// splunkBinary builds navius with FEATURES=default,splunk.
func splunkBinary(t testing.TB) string { return harness.BuildT(t, "default,splunk", "v0.0.0-interop") }

var naviusClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

func naviusDo(t testing.TB, method, url, id, body string) (int, string) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	resp, err := naviusClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSplunkBinarySIGTERMZeroLoss(t *testing.T) {
	bin := splunkBinary(t)
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken})
	env := []string{
		"NAVIUS_SPLUNK_ENDPOINT=" + hec.URL, "NAVIUS_SPLUNK_TOKEN=" + splunkToken,
		// Nothing leaves on the timer: what the batches by count leave
		// behind must go out on SIGTERM.
		"NAVIUS_SPLUNK_FLUSH_INTERVAL=1h", "NAVIUS_SPLUNK_BATCH_SIZE=64",
	}
	p := harness.Serve(t, bin, t.TempDir(), env)

	const n = 600
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				method, path := "PUT", fmt.Sprintf("/api/v1/zl/k%d", i)
				if i%2 == 1 {
					method, path = "GET", fmt.Sprintf("/api/v1/zl/k%d", i-1)
				}
				if status, body := naviusDo(t, method, p.URL+path, fmt.Sprintf("zl-%d", i), "v"); status/100 != 2 && status != 404 {
					t.Errorf("%s %s = %d %s", method, path, status, body)
				}
			}
		})
	}
	wg.Wait()

	status, health := naviusDo(t, "GET", p.URL+"/health", "", "")
	var h struct {
		Status     string `json:"status"`
		Components map[string]struct {
			Status string `json:"status"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(health), &h); err != nil || status != 200 || h.Components["splunk"].Status != "UP" {
		t.Fatalf("/health = %d %s", status, health)
	}
	_, info := naviusDo(t, "GET", p.URL+"/info", "", "")
	if !strings.Contains(info, `"logging":"console,splunk"`) {
		t.Errorf("/info does not name the splunk sink: %s", info)
	}
	p.MustStop(t)

	recs, _ := splunkRecords(hec.Logs)
	ids := map[string]bool{}
	stopped := false
	for _, r := range recs {
		if r.Body["message"] == "request" {
			if id, _ := r.Attrs["correlation_id"].(string); id != "" {
				ids[id] = true
			}
		}
		if r.Body["message"] == "stopped" {
			stopped = true
		}
	}
	var missing []string
	for i := range n {
		if id := fmt.Sprintf("zl-%d", i); !ids[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 || !stopped {
		t.Fatalf("lost on SIGTERM: %d of %d request events (e.g. %v); \"stopped\" delivered: %v\n%s", len(missing), n, missing[:min(5, len(missing))], stopped, tail(p.Logs(), 20))
	}

	// The token appears nowhere: console, /health, /info, --features,
	// config keys and config check.
	outputs := map[string]string{"console": p.Logs(), "/health": health, "/info": info}
	for name, args := range map[string][]string{
		"--features": {"--features", "--json"}, "config keys": {"config", "keys", "--json"}, "config check": {"config", "check"},
		"serve --help": {"serve", "--help"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("navius %v: %v\n%s", args, err, out)
		}
		outputs[name] = string(out)
	}
	if !strings.Contains(outputs["config check"], "splunk.token") || !strings.Contains(outputs["config check"], "<secret>") {
		t.Errorf("config check does not show the token as <secret>:\n%s", outputs["config check"])
	}
	for name, out := range outputs {
		if strings.Contains(out, splunkToken) {
			t.Errorf("the token appears in %s", name)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func TestSplunkBinaryConfigErrors(t *testing.T) {
	bin := splunkBinary(t)
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"NAVIUS_SPLUNK_ENDPOINT=http://127.0.0.1:1"}, "splunk.token is empty; set NAVIUS_SPLUNK_TOKEN"},
		{[]string{"NAVIUS_SPLUNK_ENDPOINT=ftp://x", "NAVIUS_SPLUNK_TOKEN=" + splunkToken}, "is not an HEC URL"},
	} {
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), c.want) || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
			t.Errorf("env %v: exit %v, output %q; want exit 2 and one line with %q", c.env, err, out, c.want)
		}
		if strings.Contains(string(out), splunkToken) {
			t.Errorf("the token appears in the error: %s", out)
		}
	}
}

// TestSplunkThroughput measures request throughput with the Splunk sink off
// and on in the same run, and events per second delivered to the receiver.
// It only reports (no timed assertion) and runs when NAVIUS_BENCH=1:
//
//	cd interop && NAVIUS_BENCH=1 go test -run TestSplunkThroughput -v -count=1
func TestSplunkThroughput(t *testing.T) {
	if os.Getenv("NAVIUS_BENCH") != "1" {
		t.Skip("measurement; run with NAVIUS_BENCH=1")
	}
	bin := splunkBinary(t)
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken})
	off := harness.Serve(t, bin, t.TempDir(), nil)
	on := harness.Serve(t, bin, t.TempDir(), []string{"NAVIUS_SPLUNK_ENDPOINT=" + hec.URL, "NAVIUS_SPLUNK_TOKEN=" + splunkToken})
	for _, p := range []*harness.Proc{off, on} {
		naviusDo(t, "PUT", p.URL+"/api/v1/bench/k", "", `{"hello":"world"}`)
	}
	const workers, round = 32, 5 * time.Second
	load := func(p *harness.Proc) float64 {
		if _, err := exec.LookPath("wrk"); err == nil { // a leaner load generator, in its own process
			out, err := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", workers), fmt.Sprintf("-d%ds", int(round.Seconds())), p.URL+"/api/v1/bench/k").CombinedOutput()
			if err != nil {
				t.Fatalf("wrk: %v\n%s", err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Requests/sec:"); ok {
					var rps float64
					fmt.Sscan(strings.TrimSpace(v), &rps)
					return rps
				}
			}
			t.Fatalf("no Requests/sec in wrk's output:\n%s", out)
		}
		var count atomic.Int64
		stop := time.Now().Add(round)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for time.Now().Before(stop) {
					if status, _ := naviusDo(t, "GET", p.URL+"/api/v1/bench/k", "", ""); status == 200 {
						count.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return float64(count.Load()) / round.Seconds()
	}
	var sumOff, sumOn float64
	for i := range 3 { // interleaved rounds, so drift hits both alike
		cpuOff := procCPU(off)
		rOff := load(off)
		cpuOff = procCPU(off) - cpuOff
		before := hec.Logs.LogRecordCount()
		start := time.Now()
		cpuOn := procCPU(on)
		rOn := load(on)
		cpuOn = procCPU(on) - cpuOn
		t.Logf("round %d: navius CPU per request: splunk off %.1fµs, on %.1fµs", i+1,
			cpuOff.Seconds()*1e6/(rOff*round.Seconds()), cpuOn.Seconds()*1e6/(rOn*round.Seconds()))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for hec.Logs.LogRecordCount()-before < int(rOn*round.Seconds()) && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		delivered := hec.Logs.LogRecordCount() - before
		t.Logf("round %d: splunk off %.0f req/s, on %.0f req/s (ratio %.3f); %d events delivered in %.1fs = %.0f events/s",
			i+1, rOff, rOn, rOn/rOff, delivered, time.Since(start).Seconds(), float64(delivered)/time.Since(start).Seconds())
		sumOff += rOff
		sumOn += rOn
	}
	t.Logf("mean: splunk off %.0f req/s, on %.0f req/s, ratio on/off %.3f", sumOff/3, sumOn/3, sumOn/sumOff)
	off.MustStop(t)
	on.MustStop(t)
	if strings.Contains(on.Logs(), "dropping log entries") {
		t.Logf("the sink dropped entries during the run")
	}

	// The sink alone: how fast events reach the receiver when nothing else
	// competes (200,000 access-log-sized events, gzip on, default batches).
	hec.Logs.Reset()
	sink := newSplunkSink(t, splunk.Config{Endpoint: hec.URL, Token: splunkToken, Gzip: true, QueueSize: 250_000, QueueBytes: 1 << 30, FlushInterval: 100 * time.Millisecond})
	const events = 200_000
	start := time.Now()
	for i := range events {
		sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: "request", CorrelationID: fmt.Sprintf("bench-%d", i), Source: "http",
			Fields: map[string]any{"method": "GET", "path": "/api/v1/bench/k", "status": 200, "bytes": 17, "duration_ms": 0.042, "remote": "127.0.0.1:40000"}})
	}
	flushSplunk(t, sink)
	el := time.Since(start)
	st := sink.Stats()
	t.Logf("sink alone: %d events delivered (%d dropped) in %.2fs = %.0f events/s in %d batches", st.Sent, st.Dropped, el.Seconds(), float64(st.Sent)/el.Seconds(), st.Batches)
}

// procCPU is the user plus system CPU time the process has used so far
// (Linux /proc; 0 elsewhere).
func procCPU(p *harness.Proc) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux
}
