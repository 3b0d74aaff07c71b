package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/build"
)

// TestBuilderPageAbsentWithoutBuilder: navius builder serve and its
// embedded page are in a build with the builder feature and in none
// without it (the page's own test, driving it in Chromium, is in
// browsertest/).
func TestBuilderPageAbsentWithoutBuilder(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(root, "internal", "builder", "web", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	// The script's first line, as embedded.
	marker, _, _ := bytes.Cut(script, []byte("\n"))
	if len(marker) < 30 {
		t.Fatalf("app.js's first line %q is too short to look for", marker)
	}
	for _, c := range []struct {
		spec string
		has  bool
	}{{"default", true}, {"memory", false}, {"default,-builder", false}} {
		bin, sel := binary(t, c.spec)
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(data, marker); got != c.has {
			t.Errorf("a build of %s carries the page's script: %v, want %v", c.spec, got, c.has)
		}
		cmd := exec.Command("go", "list", "-deps", "-tags", strings.Join(build.Tags(sel), ","), ".")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps: %v\n%s", err, out)
		}
		if got := strings.Contains(string(out), build.Module+"/internal/builder\n"); got != c.has {
			t.Errorf("a build of %s compiles internal/builder: %v, want %v", c.spec, got, c.has)
		}
		code, _, stderr := run(t, bin, nil, "builder", "serve", "--listen", "127.0.0.1:0", "--cache", t.TempDir(), "--concurrency", "0")
		if c.has {
			// The builder's own check of its flags answers: the command is there.
			if code != 2 || !strings.Contains(stderr, "--concurrency 0: give a positive number") {
				t.Errorf("%s: builder serve --concurrency 0: exit %d %q", c.spec, code, stderr)
			}
			continue
		}
		if code != 2 || !strings.Contains(stderr, `command "builder" comes with feature builder`) || !strings.Contains(stderr, "rebuild with FEATURES=") {
			t.Errorf("%s: builder serve: exit %d %q; want the feature that brings it and how to rebuild", c.spec, code, stderr)
		}
	}
}
