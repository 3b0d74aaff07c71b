// Package browsertest drives navius builder serve's page in a real headless
// Chromium (Debian's chromium, through chromedp) and its API over HTTP. It
// is a module of its own, so chromedp stays out of navius's go.mod, as
// interop/ keeps the OpenTelemetry Collector out.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty/modtest"
)

var (
	root      string       // the navius tree
	tmp       string       // this run's scratch directory
	navius    string       // a default build of navius (it carries the builder)
	builder   *builderProc // builder serve with the catalog, shared by the tests
	nav       *manifest.Manifest
	statusOut string // the tree's git status before the tests
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		code = 1
	}
	if builder != nil {
		builder.stop()
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	var err error
	if root, err = build.FindSource(".."); err != nil {
		return 1, err
	}
	if nav, err = manifest.Load(filepath.Join(root, "features.json")); err != nil {
		return 1, err
	}
	if tmp, err = os.MkdirTemp("", "navius-browsertest-"); err != nil {
		return 1, err
	}
	statusOut = gitStatus()
	navius = filepath.Join(tmp, "navius")
	if err := harness.Build(root, "default", "v0.0.0-browsertest", navius); err != nil {
		return 1, err
	}
	catalog, err := writeCatalog(filepath.Join(tmp, "catalog"))
	if err != nil {
		return 1, err
	}
	// TMPDIR points at an empty directory: nothing may be written there
	// (builder serve keeps its temporary directories in its cache).
	for _, d := range []string{"tmpdir", "work"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			return 1, err
		}
	}
	builder, err = startBuilder(filepath.Join(tmp, "work"), []string{"TMPDIR=" + filepath.Join(tmp, "tmpdir")},
		"--source", root, "--catalog", catalog, "--cache", filepath.Join(tmp, "cache"), "--per-client", "2")
	if err != nil {
		return 1, err
	}
	return m.Run(), nil
}

// writeCatalog makes the catalog's two modules from examples/fsdb: a copy
// whose feature requires memory (so the page shows a requirement the
// resolver adds and a removal it refuses) and the kit's broken copy, and
// the catalog file naming them.
func writeCatalog(dir string) (string, error) {
	fsdb, broken := filepath.Join(dir, "fsdb"), filepath.Join(dir, "brokenfsdb")
	if err := modtest.Copy(filepath.Join(root, "examples", "fsdb"), fsdb, root, "navius-feature.json", `"requires": []`, `"requires": ["memory"]`); err != nil {
		return "", err
	}
	if err := os.MkdirAll(broken, 0o755); err != nil {
		return "", err
	}
	if err := modtest.BrokenFSDB(root, broken); err != nil {
		return "", err
	}
	catalog := `{"modules": [
  {"module": "example.com/navius-fsdb", "version": "v0.1.0", "dir": "fsdb", "description": "A filesystem database, one file per key (navius's example module)."},
  {"module": "example.com/navius-brokenfsdb", "version": "v0.1.0", "dir": "brokenfsdb", "description": "The kit's broken fixture: Delete reports a missing key as deleted."}
]}`
	path := filepath.Join(dir, "catalog.json")
	return path, os.WriteFile(path, []byte(catalog), 0o644)
}

// gitStatus is the tree's git status, to show that nothing was written
// into it.
func gitStatus() string {
	cmd := exec.Command("git", "status", "--porcelain", "--untracked-files=all")
	cmd.Dir = root
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// builderProc is a running navius builder serve.
type builderProc struct{ *harness.Proc }

var servingRE = regexp.MustCompile(`serving http://([^/ ]+)/`)

// startBuilder runs navius builder serve on a free loopback port in dir
// and waits for the line that says where it listens.
func startBuilder(dir string, env []string, args ...string) (*builderProc, error) {
	cmd := exec.Command(navius, append([]string{"builder", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p, err := harness.Start(cmd, 2*time.Minute, func(line string) string {
		if m := servingRE.FindStringSubmatch(line); m != nil {
			return m[1]
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	return &builderProc{p}, nil
}

// stop ends builder serve with SIGTERM (its group, should a build run).
func (p *builderProc) stop() {
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.Done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.Done
	}
}

// get fetches path from the builder and returns the status and body.
func get(t *testing.T, base, path string, header ...string) (int, []byte) {
	t.Helper()
	return do(t, "GET", base, path, "", header...)
}

func do(t *testing.T, method, base, path, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, data
}

// metric reads one sample of builder serve's /metrics.
func metric(t *testing.T, name string) float64 {
	t.Helper()
	code, body := get(t, builder.URL, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", name, body)
	return 0
}

// reportedFeatures runs a binary's --features --json and returns the
// feature names it reports.
func reportedFeatures(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(bin, "--features", "--json").Output()
	if err != nil {
		t.Fatalf("%s --features --json: %v", bin, err)
	}
	var rep struct {
		Features []struct {
			Name string `json:"name"`
		} `json:"features"`
		Consistent bool `json:"consistent"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Consistent {
		t.Fatalf("%s reports inconsistent features: %s", bin, out)
	}
	var names []string
	for _, f := range rep.Features {
		names = append(names, f.Name)
	}
	return names
}
