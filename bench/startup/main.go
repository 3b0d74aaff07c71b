// Command startup measures the time from exec of a navius binary to its first
// 200 from /readyz, over several runs, and prints the median and spread.
//
//	go run ./bench/startup -bin bin/navius -runs 20
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/navius-dev/navius/internal/harness"
)

func main() {
	bin := flag.String("bin", "bin/navius", "navius binary")
	runs := flag.Int("runs", 20, "number of starts")
	plain := flag.Bool("plain", false, "pass only serve --listen (for the floor program)")
	restart := flag.Bool("restart", false, "start every run in the same directory, over the data of the previous one (a restart), instead of an empty one")
	flag.Parse()
	if *restart {
		d, err := os.MkdirTemp("", "navius-restart-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "startup:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		restartDir = d
	}
	extraArgs = flag.Args() // passed to serve, e.g. -- --database-url memory://
	if !*plain {
		extraArgs = append([]string{"--log-level", "warn"}, extraArgs...)
	}
	if abs, err := filepath.Abs(*bin); err == nil { // runs happen in temp dirs
		*bin = abs
	}
	var times, cpu []time.Duration
	for range *runs {
		d, c, err := once(*bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "startup:", err)
			os.Exit(1)
		}
		times, cpu = append(times, d), append(cpu, c)
	}
	for _, d := range [][]time.Duration{times, cpu} {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	}
	fmt.Printf("exec to /readyz 200 over %d runs: min %s  median %s  p90 %s  max %s\n", len(times),
		ms(times[0]), ms(times[len(times)/2]), ms(times[len(times)*9/10]), ms(times[len(times)-1]))
	// CPU time (user+system) to the first 200 moves less than wall-clock
	// time when other processes compete for the CPU.
	fmt.Printf("CPU time of the process to /readyz 200: min %s  median %s\n", ms(cpu[0]), ms(cpu[len(cpu)/2]))
}

var extraArgs []string

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func freePort() string {
	addr, err := harness.FreeAddr()
	if err != nil {
		panic(err)
	}
	return addr
}

// restartDir, when set, is reused by every start: a restart over existing
// data instead of a first start in an empty directory.
var restartDir string

// once starts bin and returns the time to its first 200 from /readyz and
// the CPU time the process had used by then (it is killed at once).
func once(bin string) (wall, cpu time.Duration, err error) {
	dir := restartDir
	if dir == "" {
		d, err := os.MkdirTemp("", "navius-startup-")
		if err != nil {
			return 0, 0, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	addr := freePort()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, extraArgs...)...)
	cmd.Dir = dir
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	for time.Since(start) < 10*time.Second {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				wall = time.Since(start)
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return 0, 0, fmt.Errorf("%s did not become ready within 10s", bin)
}
