package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Proc is a running process whose standard error is kept (Logs) and was
// watched for the line that says where it serves.
type Proc struct {
	// URL is http://ADDR, ADDR from the line that said it was ready.
	URL string
	Cmd *exec.Cmd
	// Done receives the process's exit, once, after its log is read to
	// the end (Wait closes the pipe: read first, or the last lines, such
	// as "stopped", may be lost).
	Done chan error
	logs LockedBuffer
}

// Logs is the process's standard error so far.
func (p *Proc) Logs() string { return p.logs.String() }

// ErrNotReady: the process did not say it was ready in time (Start
// killed it).
var ErrNotReady = errors.New("did not start serving")

// Start starts cmd, keeps its standard error and returns once ready finds
// the address it serves on in a line of it; or an error with the log when
// the process exits first, or ErrNotReady when wait passes (the process is
// then killed). The Proc is there with its log either way.
func Start(cmd *exec.Cmd, wait time.Duration, ready func(line string) (addr string)) (*Proc, error) {
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, Done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if a := ready(line); a != "" {
				select {
				case addr <- a:
				default:
				}
			}
		}
		p.Done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.URL = "http://" + a
		return p, nil
	case err := <-p.Done:
		p.Done <- err // for whoever waits on the exit
		return p, fmt.Errorf("%s exited before serving: %v\n%s", filepath.Base(cmd.Path), err, p.Logs())
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-p.Done
		return p, fmt.Errorf("%s %w within %v\n%s", filepath.Base(cmd.Path), ErrNotReady, wait, p.Logs())
	}
}

// ServingAddr is Start's ready for navius serve with JSON logs: the addr of
// its "navius is serving" line.
func ServingAddr(line string) string {
	var e struct{ Msg, Addr string }
	if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "navius is serving" {
		return e.Addr
	}
	return ""
}

// Serve runs bin serve in dir on a free loopback port (JSON logs) with env
// added and args after, waits until it serves, and kills it at the end of
// the test if it still runs.
func Serve(t testing.TB, bin, dir string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return ServeCmd(t, cmd)
}

// ServeCmd is Serve of a command made otherwise (another listener, say).
func ServeCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p, err := Start(cmd, 30*time.Second, ServingAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.Done
		}
	})
	return p
}

// Stop sends SIGTERM and waits for the exit, which it returns; the test
// fails when the process is still there a minute later.
func (p *Proc) Stop(t testing.TB) error {
	t.Helper()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.Done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s did not stop within a minute of SIGTERM\n%s", filepath.Base(p.Cmd.Path), p.Logs())
	}
	return nil
}

// MustStop is Stop that fails the test unless the exit is clean.
func (p *Proc) MustStop(t testing.TB) {
	t.Helper()
	if err := p.Stop(t); err != nil {
		t.Fatalf("%s exited with %v after SIGTERM\n%s", filepath.Base(p.Cmd.Path), err, p.Logs())
	}
}

// Do sends a request to the process and returns the status and body; a
// request that fails fails the test.
func (p *Proc) Do(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	code, _, b := Request(t, method, p.URL+path, body)
	return code, b
}

// Get fetches url, with token as a bearer token when not empty, and
// returns the status and body; a request that fails fails the test.
func Get(t testing.TB, url, token string) (int, string) {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	code, _, b := Request(t, "GET", url, "", hdr...)
	return code, b
}

// Run runs bin to its end in dir with stdin and env added, and returns its
// exit code and output.
func Run(t testing.TB, dir, stdin, bin string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// Build builds navius with FEATURES=spec from the source tree at root the
// way make build does, stamped version, into out.
func Build(root, spec, version, out string) error {
	m, err := manifest.Load(filepath.Join(root, "features.json"))
	if err != nil {
		return err
	}
	sel, err := m.Resolve(spec)
	if err != nil {
		return err
	}
	plan, err := build.NewPlan(build.Options{Source: root, Selection: sel, Output: out, Version: version})
	if err != nil {
		return err
	}
	var log strings.Builder
	if _, err := plan.Run(context.Background(), &log); err != nil {
		return fmt.Errorf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	return nil
}

// BuildT is Build for a test, from the tree around the working directory,
// into the test's temporary directory (the Go build cache makes repeated
// builds cheap).
func BuildT(t testing.TB, spec, version string) string {
	t.Helper()
	root, err := build.FindSource(".")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "navius")
	if err := Build(root, spec, version, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// LockedBuffer is a strings.Builder safe for a writer and readers at once:
// a process's log, or a console a test reads while a logger writes it.
type LockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
