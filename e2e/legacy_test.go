package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// legacyCommit is navius as it was before entries carried versions and
// expiry times (the last commit of main before them). Migration tests
// write data with a binary built from it and read, update and
// conditionally write that data with today's binary.
const legacyCommit = "3adbfa05acdd533a52b4d49c04044efb11b49d85"

var (
	legacyMu    sync.Mutex
	legacyBuilt = map[string]string{}
)

// legacyBinary builds navius at legacyCommit with the features in tags
// (comma separated, e.g. "bolt" or "postgres,redis"), once per test run.
// It needs the repository's history: a shallow clone fails the test with
// the way out.
func legacyBinary(t testing.TB, tags string) string {
	t.Helper()
	legacyMu.Lock()
	defer legacyMu.Unlock()
	if bin, ok := legacyBuilt[tags]; ok {
		return bin
	}
	git := func(args ...string) (string, error) {
		out, err := exec.Command("git", append([]string{"-C", root}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if _, err := git("cat-file", "-e", legacyCommit+"^{commit}"); err != nil {
		shallow, _ := git("rev-parse", "--is-shallow-repository")
		t.Fatalf("the migration tests build navius at %.12s, which this checkout lacks (shallow: %s): clone with full history (no --depth), or run git fetch --unshallow", legacyCommit, shallow)
	}
	src := filepath.Join(binDir, "legacy-src")
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, legacyCommit, src)
		if out, err := archive.CombinedOutput(); err != nil {
			t.Fatalf("extracting navius %.12s: %v\n%s", legacyCommit, err, out)
		}
	}
	out := filepath.Join(binDir, "navius-legacy-"+strings.ReplaceAll(tags, ",", "-"))
	build := exec.Command("go", "build", "-trimpath", "-tags", "custom,"+tags, "-o", out, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if o, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building navius %.12s with %s: %v\n%s", legacyCommit, tags, err, o)
	}
	legacyBuilt[tags] = out
	return out
}
