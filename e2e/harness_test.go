// Package e2e builds real navius binaries with different feature sets and
// runs them: the API, health, --features, exclusion of unselected modules,
// CLI errors and graceful shutdown.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
)

var (
	root     string
	binDir   string
	builtMu  sync.Mutex
	builtBin = map[string]string{}
)

func TestMain(m *testing.M) {
	var err error
	root, err = build.FindSource(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir, err = os.MkdirTemp("", "navius-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

func loadManifest(t testing.TB) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load(filepath.Join(root, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// binary builds navius with FEATURES=spec the way make build does, once per
// spec per test run.
func binary(t testing.TB, spec string) (string, manifest.Selection) {
	t.Helper()
	sel, err := loadManifest(t).Resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	builtMu.Lock()
	defer builtMu.Unlock()
	if bin, ok := builtBin[sel.TagString()]; ok {
		return bin, sel
	}
	out := filepath.Join(binDir, "navius-"+strings.ReplaceAll(sel.TagString(), ",", "-"))
	plan, err := build.NewPlan(build.Options{Source: root, Selection: sel, Output: out, Version: "v0.0.0-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if _, err := plan.Run(context.Background(), &log); err != nil {
		t.Fatalf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	builtBin[sel.TagString()] = out
	return out, sel
}

// proc is a running navius serve.
type proc struct {
	cmd  *exec.Cmd
	URL  string
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts bin serve in dir on a free loopback port and waits until it
// logs that it is serving.
func serve(t *testing.T, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "navius is serving" {
				addr <- entry.Addr
			}
		}
	}()
	// Wait closes the pipe: read it to the end first, or the last lines
	// (e.g. "stopped") may be lost.
	go func() { <-scanned; p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case err := <-p.done:
		t.Fatalf("navius exited before serving: %v\n%s", err, p.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("navius did not start serving within 20s\n%s", p.logs.String())
	}
	return p
}

// stop sends SIGTERM and waits for the exit.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("navius did not stop within 20s of SIGTERM\n%s", p.logs.String())
	}
	return nil
}

func (p *proc) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, p.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// run runs the binary to completion in a fresh directory and returns its
// exit code and output.
func run(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	return runIn(t, t.TempDir(), "", bin, env, args...)
}
