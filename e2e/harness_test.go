// Package e2e builds real navius binaries with different feature sets and
// runs them: the API, health, --features, exclusion of unselected modules,
// CLI errors and graceful shutdown.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/harness"
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
	if err := harness.Build(root, spec, "v0.0.0-e2e", out); err != nil {
		t.Fatal(err)
	}
	builtBin[sel.TagString()] = out
	return out, sel
}

// proc is a running navius serve (harness.Serve).
type proc = harness.Proc

// serve starts bin serve in dir on a free loopback port and waits until it
// logs that it is serving.
func serve(t *testing.T, bin, dir string, env []string, args ...string) *proc {
	t.Helper()
	return harness.Serve(t, bin, dir, env, args...)
}

// run runs the binary to completion in a fresh directory and returns its
// exit code and output.
func run(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	return harness.Run(t, t.TempDir(), "", bin, env, args...)
}

// checkExit checks a run's exit code and, when it is right, that its
// stderr holds each of wants and is at most one line (the one-line error
// the charter asks for). It reports whether the exit code was right.
func checkExit(t *testing.T, what string, code int, stderr string, wantCode int, wants []string) bool {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d; stderr: %s", what, code, wantCode, stderr)
		return false
	}
	for _, w := range wants {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr %q lacks %q", what, stderr, w)
		}
	}
	if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines > 0 {
		t.Errorf("%s: error is %d lines, want one: %s", what, lines+1, stderr)
	}
	return true
}

// eachWorker has workers goroutines call step with their number each times
// (a worker stops at its first error) and returns how long they took; the
// first error fails the test once all have stopped.
func eachWorker(t *testing.T, workers, each int, step func(w int) error) time.Duration {
	t.Helper()
	start := time.Now()
	err := harness.Concurrently(workers, each, func(w, _ int) error { return step(w) })
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	return elapsed
}

// checkOutput reports each of wants that out lacks, naming it what.
func checkOutput(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// runIn runs bin in dir with stdin and returns exit code, stdout, stderr.
func runIn(t *testing.T, dir, stdin, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	return harness.Run(t, dir, stdin, bin, env, args...)
}
