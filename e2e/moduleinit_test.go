package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/conformance"
)

// TestModuleInit: a module scaffolded by navius module init passes
// verification as generated, builds in, is listed by the binary and
// serves. The database and the cache are generated from inside the tree
// (go.mod replaces navius with it); the log sink from a directory outside any checkout (no
// replace: navius build --with builds it against the tree that builds).
func TestModuleInit(t *testing.T) {
	tool, _ := binary(t, "default")
	const module = "example.com/navius-widget"
	for _, c := range []struct {
		kind, cwd, verified, provides string
		env                           func(dir string) []string
		// live checks the running server, check what it left in dir.
		live  func(t *testing.T, p *proc)
		check func(t *testing.T, dir string)
	}{
		{
			kind: "database", cwd: root, provides: "database:widget",
			verified: "verify:   widget: navius's harness on what " + module + " registers: navius.database.v2 ",
			env:      func(dir string) []string { return []string{"NAVIUS_DATABASE_URL=widget://" + dir} },
			check: func(t *testing.T, dir string) {
				if st, err := os.Stat(filepath.Join(dir, "data.log")); err != nil || st.Size() == 0 {
					t.Errorf("the API's writes are not in %s/data.log: %v", dir, err)
				}
			},
		},
		{
			// Held to every case of the cache suite, HonoursContext and
			// CloseWhileBusy among them.
			kind: "cache", cwd: root, provides: "cache:widget",
			verified: fmt.Sprintf("verify:   widget: navius's harness on what %s registers: navius.cache.v2 %d/%d cases passed",
				module, len(conformance.Required[conformance.Cache]), len(conformance.Required[conformance.Cache])),
			env: func(string) []string { return []string{"NAVIUS_CACHE_URL=widget://"} },
			live: func(t *testing.T, p *proc) {
				status, body := p.Do(t, "GET", "/health", "")
				if status != 200 || !strings.Contains(body, `"provider":"widget"`) {
					t.Errorf("/health does not show the widget cache: %d %s", status, body)
				}
			},
			check: func(*testing.T, string) {},
		},
		{
			kind: "logsink", cwd: t.TempDir(), provides: "logging:widget",
			verified: "verify:   widget: navius's harness on what " + module + " registers: navius.logging.v2 6/6 cases passed",
			env: func(dir string) []string {
				return []string{"NAVIUS_WIDGET_PATH=" + filepath.Join(dir, "entries.jsonl")}
			},
			check: func(t *testing.T, dir string) {
				data, err := os.ReadFile(filepath.Join(dir, "entries.jsonl"))
				if err != nil || !bytes.Contains(data, []byte(`"level":"info"`)) {
					t.Errorf("the server's log entries are not in entries.jsonl (%v):\n%.2000s", err, data)
				}
			},
		},
	} {
		t.Run(c.kind, func(t *testing.T) {
			mod := filepath.Join(t.TempDir(), "widget")
			code, out, errOut := runIn(t, c.cwd, "", tool, nil, "module", "init", module, mod, "--kind", c.kind)
			if code != 0 {
				t.Fatalf("module init: exit %d\n%s%s", code, out, errOut)
			}
			gomod, _ := os.ReadFile(filepath.Join(mod, "go.mod"))
			if replaced := bytes.Contains(gomod, []byte("replace github.com/navius-dev/navius => "+root)); replaced != (c.cwd == root) {
				t.Errorf("go.mod (module init run in %s):\n%s", c.cwd, gomod)
			}

			dir := t.TempDir()
			code, out, errOut = runIn(t, dir, "", tool, nil, "build", "--source", root, "--features", "memory",
				"--with", module+"="+mod, "--output", "out")
			if code != 0 {
				t.Fatalf("build --with the scaffold: exit %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(out, c.verified) {
				t.Fatalf("build output lacks %q:\n%s", c.verified, out)
			}
			bin := onlyBinary(t, filepath.Join(dir, "out"))
			_, text, _ := run(t, bin, nil, "--features")
			listed := false
			for _, l := range strings.Split(text, "\n") {
				listed = listed || strings.HasPrefix(l, "widget ") && strings.Contains(l, c.provides) && strings.Contains(l, module+" (devel) => ")
			}
			if !strings.Contains(text, "Non-standard features") || !listed {
				t.Errorf("--features does not list the widget feature:\n%s", text)
			}

			data := t.TempDir()
			p := serve(t, bin, t.TempDir(), c.env(data))
			exercise(t, p)
			if c.live != nil {
				c.live(t, p)
			}
			if err := p.Stop(t); err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Logs())
			}
			c.check(t, data)
		})
	}
}

// TestModuleInitBrokenSink: navius's harness, not the module's own test,
// decides for a log sink too. A scaffolded sink whose registered Write
// drops entries that carry a correlation ID, with an own test that checks
// nothing, is refused, naming the case.
func TestModuleInitBrokenSink(t *testing.T) {
	tool, _ := binary(t, "default")
	const module = "example.com/navius-widget"
	mod := filepath.Join(t.TempDir(), "widget")
	if code, out, errOut := runIn(t, t.TempDir(), "", tool, nil, "module", "init", module, mod, "--kind", "logsink"); code != 0 {
		t.Fatalf("module init: exit %d\n%s%s", code, out, errOut)
	}
	edit := func(file, old, new string) {
		path := filepath.Join(mod, file)
		data, _ := os.ReadFile(path)
		if !bytes.Contains(data, []byte(old)) {
			t.Fatalf("the scaffold's %s no longer has %q", file, old)
		}
		if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit("widget.go", "\tif s.closed {\n\t\ts.stats.Dropped++", "\tif s.closed || e.CorrelationID != \"\" {\n\t\ts.stats.Dropped++")
	if err := os.WriteFile(filepath.Join(mod, "conformance_test.go"), []byte("package widget_test\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--source", root, "--features", "memory", "--with", module+"="+mod, "--output", "out")
	want := "verify " + module + ": conformance case TestNaviusHarness/widget/logging:widget/navius.logging.v2/FlushDelivers failed"
	if code != 2 || !strings.Contains(errOut, want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("build of a broken sink: exit %d, stderr %q; want exit 2 and one line containing %q\n%s", code, errOut, want, out)
	}
}
