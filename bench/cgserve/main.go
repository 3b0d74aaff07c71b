// Command cgserve counts the instructions a server executes per HTTP
// request, under callgrind: a figure that holds still however busy the
// machine is, unlike requests/s. It starts the server under valgrind, sends
// -warmup requests, has callgrind dump its counts, sends -n more over
// -conns keep-alive connections, dumps again, and divides that dump's count.
// Everything the process runs in user space counts (the request path, the
// access log's writer, the garbage collector); the kernel does not.
//
//	go run ./bench/cgserve -bin bin/navius -- serve
//	go run ./bench/cgserve -bin bin/floor -- serve
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
	"github.com/navius-dev/navius/internal/harness"
)

func main() {
	bin := flag.String("bin", "bin/navius", "server binary; the arguments after -- are its own (before --listen)")
	n := flag.Int("n", 3000, "requests measured")
	warmup := flag.Int("warmup", 500, "requests before measuring")
	conns := flag.Int("conns", 4, "keep-alive connections")
	path := flag.String("path", "/api/v1/bench/k000042", "GET path; a PUT of 256 bytes to it comes first")
	keep := flag.String("keep", "", "copy the measured dump to this file (for callgrind_annotate)")
	flag.Parse()
	// valgrind runs in the server's directory: it needs bin's absolute path.
	load.Prepare("cgserve", []string{"valgrind"}, bin)
	if err := run(*bin, flag.Args(), *path, *n, *warmup, *conns, *keep); err != nil {
		load.Fail("cgserve", err)
	}
}

func run(bin string, args []string, path string, n, warmup, conns int, keep string) error {
	dir, err := os.MkdirTemp("", "cgserve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	out := filepath.Join(dir, "callgrind.out")
	cmd := exec.Command("valgrind", append([]string{"--tool=callgrind", "--callgrind-out-file=" + out, bin},
		append(args, "--listen", addr)...)...)
	cmd.Dir = dir
	// Callgrind cannot follow Go's asynchronous preemption signals.
	cmd.Env = append(os.Environ(), "GODEBUG=asyncpreemptoff=1")
	logFile, err := os.Create(filepath.Join(dir, "stderr.log")) // the access log goes to a file, as shipped
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 30 * time.Second}
	if err := waitReady(client, base); err != nil {
		return err
	}
	req, _ := http.NewRequest("PUT", base+path, bytes.NewReader(bytes.Repeat([]byte("v"), 256)))
	if err := do(client, req); err != nil {
		return err
	}
	if err := sendGETs(client, base+path, warmup, conns); err != nil {
		return err
	}
	// Each dump holds the counts since the previous one, which callgrind
	// then zeroes: the second is the measured requests alone.
	if _, err := dump(cmd.Process.Pid, out, 1); err != nil {
		return err
	}
	if err := sendGETs(client, base+path, n, conns); err != nil {
		return err
	}
	measured, err := dump(cmd.Process.Pid, out, 2)
	if err != nil {
		return err
	}
	if keep != "" {
		if b, err := os.ReadFile(out + ".2"); err == nil {
			_ = os.WriteFile(keep, b, 0o644)
		}
	}
	fmt.Printf("%s %v GET %s: %d instructions/request (callgrind, %d requests over %d connections)\n",
		filepath.Base(bin), args, path, measured/int64(n), n, conns)
	return nil
}

func waitReady(client *http.Client, base string) error {
	deadline := time.Now().Add(2 * time.Minute) // valgrind starts slowly
	for time.Now().Before(deadline) {
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("the server did not become ready")
}

func do(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", req.Method, req.URL, resp.Status)
	}
	return nil
}

// sendGETs sends n GETs of url over conns connections: connection c sends
// the c-th, the (c+conns)-th and so on, and stops at its first error.
func sendGETs(client *http.Client, url string, n, conns int) error {
	each := 0
	if conns > 0 {
		each = (n + conns - 1) / conns
	}
	return harness.Concurrently(conns, each, func(c, i int) error {
		if c+i*conns >= n {
			return nil
		}
		req, _ := http.NewRequest("GET", url, nil)
		return do(client, req)
	})
}

var totalsRE = regexp.MustCompile(`(?m)^totals: (\d+)`)

// dump has callgrind write its counts since the last dump (the k-th dump)
// and returns their instruction total.
func dump(pid int, out string, k int) (int64, error) {
	if b, err := exec.Command("callgrind_control", "-d", strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("callgrind_control: %v\n%s", err, b)
	}
	file := fmt.Sprintf("%s.%d", out, k)
	for range 100 {
		if b, err := os.ReadFile(file); err == nil {
			if m := totalsRE.FindSubmatch(b); m != nil {
				return strconv.ParseInt(string(m[1]), 10, 64)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("no callgrind dump in %s", file)
}
