package openapitest

// Build navius the way make build does and run it on a free loopback port
// (as interop's harness does).

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
)

func buildNavius(t testing.TB, spec string) string {
	t.Helper()
	root, err := build.FindSource("..")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join(root, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := m.Resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "navius")
	plan, err := build.NewPlan(build.Options{Source: root, Selection: sel, Output: out, Version: "v0.0.0-openapitest"})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if _, err := plan.Run(context.Background(), &log); err != nil {
		t.Fatalf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	return out
}

type naviusProc struct {
	cmd    *exec.Cmd
	URL    string
	Admin  string // the admin listener, when pprof serves one
	mu     sync.Mutex
	stderr strings.Builder
	done   chan error
}

func (p *naviusProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

var adminRE = regexp.MustCompile(`admin listener serving \S+ on (127\.0\.0\.1:\d+)`)

func startNavius(t testing.TB, bin string, env []string, args ...string) *naviusProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &naviusProc{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			var e struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "navius is serving" {
				addr <- e.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
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
		t.Fatalf("navius exited before serving: %v\n%s", err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("navius did not start within 30s\n%s", p.logs())
	}
	if m := adminRE.FindStringSubmatch(p.logs()); m != nil {
		p.Admin = "http://" + m[1]
	}
	return p
}

func (p *naviusProc) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("navius exited with %v after SIGTERM\n%s", err, p.logs())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("navius did not stop within 60s of SIGTERM\n%s", p.logs())
	}
}
