// Command startup measures the time from exec of a navius binary to its first
// 200 from /readyz, over several runs, and prints the median and spread.
//
//	go run ./bench/startup -bin bin/navius -runs 20
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"
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
	var times []time.Duration
	for range *runs {
		d, err := once(*bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "startup:", err)
			os.Exit(1)
		}
		times = append(times, d)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	fmt.Printf("exec to /readyz 200 over %d runs: min %s  median %s  p90 %s  max %s\n", len(times),
		ms(times[0]), ms(times[len(times)/2]), ms(times[len(times)*9/10]), ms(times[len(times)-1]))
}

var extraArgs []string

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// restartDir, when set, is reused by every start: a restart over existing
// data instead of a first start in an empty directory.
var restartDir string

func once(bin string) (time.Duration, error) {
	dir := restartDir
	if dir == "" {
		d, err := os.MkdirTemp("", "navius-startup-")
		if err != nil {
			return 0, err
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
		return 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for time.Since(start) < 10*time.Second {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(start), nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s did not become ready within 10s", bin)
}
