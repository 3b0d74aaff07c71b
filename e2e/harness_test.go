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

// runIn runs bin in dir with stdin and returns exit code, stdout, stderr.
func runIn(t *testing.T, dir, stdin, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	return harness.Run(t, dir, stdin, bin, env, args...)
}
