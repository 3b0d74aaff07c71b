package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleInit: a module scaffolded by navius module init passes
// verification as generated, builds in, is listed by the binary and
// serves. The database is generated from inside the tree (go.mod replaces
// navius with it); the log sink from a directory outside any checkout (no
// replace: navius build --with builds it against the tree that builds).
func TestModuleInit(t *testing.T) {
	tool, _ := binary(t, "default")
	const module = "example.com/navius-widget"
	for _, c := range []struct {
		kind, cwd, verified, provides string
		env                 func(dir string) []string
		check               func(t *testing.T, dir string)
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
			kind: "logsink", cwd: t.TempDir(), provides: "logging:widget",
			verified: "verify:   widget: its own test TestConformance passed (navius.logging.v2 6/6 cases passed",
			env:      func(dir string) []string { return []string{"NAVIUS_WIDGET_PATH=" + filepath.Join(dir, "entries.jsonl")} },
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
			if err := p.Stop(t); err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Logs())
			}
			c.check(t, data)
		})
	}
}
