// Package load is what the benchmark programs under bench/ share: starting
// a server on a free loopback port and waiting for its readiness, loading it
// with wrk, reading its RSS, taking medians, and the preamble of their
// main (tools on PATH, absolute paths, failing with the program's name).
package load

import (
	"fmt"
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

	"github.com/navius-dev/navius/internal/harness"
)

// Server is a process under test.
type Server struct {
	Name string
	Cmd  *exec.Cmd
	Base string // http://addr
	Dir  string // its working directory, removed by Stop
	Log  string // where its stdout and stderr go
	// Startup is the time from exec to the first 200 from its readiness
	// path.
	Startup time.Duration
}

// Spec says how to start a server: in Args, {addr} becomes the listen
// address, {port} its port and {dir} the server's directory; Env is added
// to the environment; Ready is the path that answers 2xx once it serves.
type Spec struct {
	Name, Bin string
	Args      []string
	Env       []string
	Ready     string
	// Wait is how long it may take to become ready: 30 s when zero.
	Wait time.Duration
}

// Start starts the server in a fresh directory and waits (up to sp.Wait)
// for its readiness path to answer 2xx.
func Start(sp Spec) (*Server, error) {
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return nil, err
	}
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	fill := strings.NewReplacer("{addr}", addr, "{port}", port, "{dir}", dir)
	args := make([]string, len(sp.Args))
	for i, a := range sp.Args {
		args[i] = fill.Replace(a)
	}
	cmd := exec.Command(sp.Bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), sp.Env...)
	logPath := filepath.Join(dir, "output.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Name: sp.Name, Cmd: cmd, Base: "http://" + addr, Dir: dir, Log: logPath}
	wait := sp.Wait
	if wait == 0 {
		wait = 30 * time.Second
	}
	client := &http.Client{Timeout: 100 * time.Millisecond}
	for time.Since(t0) < wait {
		if resp, err := client.Get(s.Base + sp.Ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				s.Startup = time.Since(t0)
				return s, nil
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	out, _ := os.ReadFile(logPath)
	s.Stop()
	return nil, fmt.Errorf("%s did not become ready on %s in %s:\n%s", sp.Name, sp.Ready, wait, out)
}

// Prepare is what a bench program does after flag.Parse: each tool must be
// on PATH (else it fails, naming the package to install), and each path
// that is not empty is made absolute, since the servers run in directories
// of their own.
func Prepare(program string, tools []string, paths ...*string) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Fail(program, fmt.Errorf("%s is not on PATH: apt-get install -y %s", tool, filepath.Base(tool)))
		}
	}
	for _, p := range paths {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			Fail(program, err)
		}
		*p = abs
	}
}

// Fail ends a bench program: "program: err" on stderr, exit status 1.
func Fail(program string, err error) {
	fmt.Fprintln(os.Stderr, program+":", err)
	os.Exit(1)
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Kill()
	_ = s.Cmd.Wait()
	os.RemoveAll(s.Dir)
}

// RSSKiB is the server's resident set size.
func (s *Server) RSSKiB() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
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

// Result is one wrk run.
type Result struct {
	RPS, P50, P99 float64 // requests/s, ms, ms
	Non2xx        int
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	pctRE    = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)`)
	non2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// Wrk runs wrk -t2 against url for d with conns connections and, when
// script is not empty, that Lua script.
func Wrk(url, script string, conns int, d time.Duration) (Result, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency"}
	if script != "" {
		args = append(args, "-s", script)
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	var r Result
	if m := rpsRE.FindSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(string(m[1]), 64)
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
			r.P50 = v
		} else {
			r.P99 = v
		}
	}
	if m := non2xxRE.FindSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.Atoi(string(m[1]))
	}
	return r, nil
}

// Median is the middle value (the upper one of an even count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
