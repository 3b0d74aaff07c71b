package builder

import (
	"bytes"
	"errors"
	"go/format"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// moduleInit runs navius module init with args in dir.
func moduleInit(t *testing.T, tr *tree, dir string, args ...string) (string, error) {
	t.Helper()
	t.Chdir(dir)
	var out bytes.Buffer
	env := &cli.Env{Manifest: tr.manifest, Stdout: &out, Stderr: &out}
	app := &ucli.App{Name: "navius", Commands: Commands(env), ExitErrHandler: func(*ucli.Context, error) {}}
	err := app.Run(append([]string{"navius", "module", "init"}, args...))
	return out.String(), err
}

// TestModuleInitRefuses: bad input is one line, a usage error (exit 2),
// and nothing is written.
func TestModuleInitRefuses(t *testing.T) {
	tr := realTree(t)
	tree := tr.dir
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "takes MODULE_PATH [DIR]"},
		{[]string{"example.com/a", "b", "c"}, "takes MODULE_PATH [DIR] (got 3"},
		{[]string{"example.com/navius-widget", full}, "is not empty"},
		{[]string{"widget"}, `"widget" is not a module path`},
		{[]string{"example.com//widget"}, "is not a module path"},
		{[]string{"example.com/wid get"}, "is not a module path"},
		{[]string{"Example.com/widget"}, "is not a module path"},
		{[]string{"example.com/navius-widget", "--kind", "queue"}, `--kind "queue": use one of database, cache, logsink, observer`},
		{[]string{"example.com/navius-widget", "--name", "Widget"}, `--name "Widget": the name must match`},
		{[]string{"example.com/navius-widget", "--name", "server"}, `--name "server": the name is reserved`},
		{[]string{"example.com/navius-widget", "--name", "bolt"}, `"bolt" is one of navius's own features`},
		{[]string{"example.com/navius-database"}, `the feature name "database" taken from example.com/navius-database won't do`},
		{[]string{"example.com/navius-widget", "--source", dir}, "is not a navius source tree"},
	} {
		args := c.args
		if !slices.Contains(args, "--source") {
			args = append(slices.Clone(args), "--source", tree)
		}
		out, err := moduleInit(t, tr, dir, args...)
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("module init %v: %v (output %q); want a one-line usage error containing %q", c.args, err, out, c.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("refusals wrote into %s: %v", dir, entries)
	}
	if data, _ := os.ReadFile(filepath.Join(full, "keep.txt")); string(data) != "mine" {
		t.Errorf("the non-empty directory's file was changed: %q", data)
	}
}

// TestModuleInitKinds: each kind gives a module the builder loads as it
// is (feature file, package, conformance test), with gofmt'd Go declaring
// its options (the feature file lists none), and a go.mod that replaces
// navius with the tree.
func TestModuleInitKinds(t *testing.T) {
	tr := realTree(t)
	tree := tr.dir
	for _, kind := range moduleKinds {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mod")
			// Flags after the arguments, as people type them.
			out, err := moduleInit(t, tr, t.TempDir(), "example.com/navius-widget", dir, "--kind", kind, "--source", tree)
			if err != nil {
				t.Fatalf("module init: %v\n%s", err, out)
			}
			m, err := thirdparty.LoadModule(dir)
			if err != nil {
				t.Fatal(err)
			}
			f := m.Features[0]
			if m.Path != "example.com/navius-widget" || f.Name != "widget" || f.Package != m.Path || f.Schema != thirdparty.Schema {
				t.Fatalf("module %s, feature %+v", m.Path, f)
			}
			// Every kind is verified by navius's harness, not its own test.
			if !f.Verified() {
				t.Errorf("%s: provides %v, with conformance %+v: not verified by navius's harness", kind, f.Provides, f.Conformance)
			}
			src, err := os.ReadFile(filepath.Join(dir, "widget.go"))
			if err != nil {
				t.Fatal(err)
			}
			// Options are written once, in Go.
			if f.Options != nil {
				t.Errorf("the feature file lists options %+v; they belong in Go only", f.Options)
			}
			for _, o := range kindOptions(kind, "widget") {
				if !bytes.Contains(src, []byte(`{Key: "`+o.Key+`", Type: providers.`)) {
					t.Errorf("widget.go does not declare option %s", o.Key)
				}
			}
			for _, name := range []string{"widget.go", "conformance_test.go"} {
				src, _ := os.ReadFile(filepath.Join(dir, name))
				if formatted, err := format.Source(src); err != nil || !bytes.Equal(formatted, src) {
					t.Errorf("%s is not gofmt'd (%v)", name, err)
				}
			}
			gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			if !bytes.Contains(gomod, []byte("replace github.com/navius-dev/navius => "+tree+"\n")) ||
				!bytes.Contains(gomod, []byte("require github.com/navius-dev/navius v")) {
				t.Errorf("go.mod:\n%s", gomod)
			}
			readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
			if !bytes.Contains(readme, []byte("go work init . "+tree)) {
				t.Errorf("README.md has no go.work recipe pointing at %s:\n%s", tree, readme)
			}
		})
	}
}

// TestModuleInitNames: the default name and directory follow from the
// module path.
func TestModuleInitNames(t *testing.T) {
	for path, want := range map[string][2]string{
		"example.com/navius-widget":     {"widget", "navius-widget"},
		"github.com/acme/navius-kv/v2":  {"kv", "navius-kv"},
		"example.com/acme-store":        {"acme_store", "acme-store"},
		"example.com/x/navius_fast.log": {"fast_log", "navius_fast.log"},
	} {
		if name, dir := defaultModuleName(path), path2dir(path); name != want[0] || dir != want[1] {
			t.Errorf("%s: name %q, dir %q; want %q, %q", path, name, dir, want[0], want[1])
		}
	}
}
