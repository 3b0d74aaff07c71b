package build

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

var fsdb = &thirdparty.Module{Path: "example.com/navius-fsdb", Dir: "/src/fsdb", Local: true, Features: []thirdparty.Feature{{
	Name: "fsdb", Description: `Files "quoted"`, Category: "storage", Provides: []string{"database:fsdb"}, Schemes: []string{"database:fsdb"},
	Package: "example.com/navius-fsdb", ConformanceTest: "TestConformance",
}}}

// The import file is Go of package main that imports each feature's
// package and embeds the record of the features, with the modules they
// bring, which the binary's bytes show to navius sbom.
func TestImportFile(t *testing.T) {
	two := &thirdparty.Module{Path: "example.com/two", Version: "v1.2.0", Features: []thirdparty.Feature{
		{Name: "two_db", Provides: []string{"database:two"}, Package: "example.com/two/db"},
		{Name: "two_cache", Provides: []string{"cache:two"}, Package: "example.com/two/db"},
	}}
	rec := buildinfo.WithRecord{
		Features: []buildinfo.ModuleFeature{{Name: "fsdb", Description: `Files "quoted"`, Module: "example.com/navius-fsdb", Modules: []string{"example.com/navius-fsdb", "example.com/dep"}}},
		Raised:   []buildinfo.Raise{{Path: "golang.org/x/sys", From: "v0.48.0", To: "v0.49.0", By: "example.com/two"}},
	}
	src, err := ImportFile([]*thirdparty.Module{fsdb, two}, rec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), WithFile, src, 0)
	if err != nil {
		t.Fatalf("the import file does not parse: %v\n%s", err, src)
	}
	var imports []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imports = append(imports, p)
	}
	want := []string{"github.com/navius-dev/navius/internal/buildinfo", "example.com/navius-fsdb", "example.com/two/db"}
	if f.Name.Name != "main" || !slices.Equal(imports, want) {
		t.Fatalf("package %s imports %v, want main importing %v (each package once)", f.Name.Name, imports, want)
	}
	// The record reads back from the constant's bytes, as from a binary's.
	var embedded string
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok && v.Names[0].Name == "withRecord" {
			embedded, _ = strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
		}
		return true
	})
	got, ok := buildinfo.ReadWithRecord([]byte("\x00garbage" + embedded + "\x00more"))
	if !ok || len(got.Features) != 1 || got.Features[0].Description != `Files "quoted"` || !slices.Equal(got.Features[0].Modules, rec.Features[0].Modules) || got.Raised[0] != rec.Raised[0] {
		t.Fatalf("the record read back is %+v, %v; want %+v", got, ok, rec)
	}
	if !strings.Contains(string(src), "buildinfo.AddWithRecord(withRecord)") {
		t.Errorf("the import file does not record the features at init:\n%s", src)
	}
}

// A plan with modules builds through the work directory's go.mod copy and
// overlay; one without is the plain go build.
func TestPlanWithModules(t *testing.T) {
	sel := manifest.Selection{Features: []string{"fsdb", "memory"}, External: []string{"fsdb"}}
	plain, err := NewPlan(Options{Source: "/src", Selection: sel, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.args("/w"); !slices.Equal(got, plain.Args) || strings.Contains(plain.Command(), "-modfile") {
		t.Fatalf("a plan without modules: %v", got)
	}
	with, err := NewPlan(Options{Source: "/src", Selection: sel, Version: "v1", Modules: []*thirdparty.Module{fsdb}})
	if err != nil {
		t.Fatal(err)
	}
	args := with.args("/w")
	if n := len(args); args[n-3] != "-modfile=/w/go.mod" || args[n-2] != "-overlay=/w/overlay.json" || args[n-1] != "." {
		t.Fatalf("args = %v", args)
	}
	if !strings.Contains(with.Command(), "-tags "+strings.Join(Tags(sel), ",")+" ") || !strings.Contains(with.Command(), "-modfile=<tmp>/go.mod") {
		t.Fatalf("command = %s", with.Command())
	}
}

func TestStartFailure(t *testing.T) {
	out := `panic: database: scheme "memory" of provider "memory" is already registered by "shadow"

goroutine 1 [running]:
github.com/navius-dev/navius/providers.(*Registry[...]).Register(0x0, {0x0, 0x0}, {0x0, 0x1, 0x1}, 0x0)
	github.com/navius-dev/navius/providers/registry.go:45 +0x1c5
github.com/navius-dev/navius/providers.RegisterDatabase(...)
	github.com/navius-dev/navius/providers/database.go:106
main.init.0()
	github.com/navius-dev/navius/providers_memory.go:12 +0x58
`
	want := `panic: database: scheme "memory" of provider "memory" is already registered by "shadow" (in main.init.0, run at startup)`
	if got := startFailure(out); got != want {
		t.Fatalf("startFailure = %q\nwant %q", got, want)
	}
	if got := startFailure("navius: config: bad\n"); got != "navius: config: bad" {
		t.Fatalf("startFailure without a panic = %q", got)
	}
}

func TestModuleLine(t *testing.T) {
	if got := ModuleLine(fsdb); got != "example.com/navius-fsdb (devel) => /src/fsdb: fsdb" {
		t.Errorf("ModuleLine(local) = %q", got)
	}
	m := *fsdb
	m.Local, m.Version = false, "v1.0.0"
	if got := ModuleLine(&m); got != "example.com/navius-fsdb v1.0.0: fsdb" {
		t.Errorf("ModuleLine(version) = %q", got)
	}
}

// TestOptionsProblem: the package's declarations are the one source of a
// feature's options; a feature file that lists them too is held to them,
// and a disagreement names the option.
func TestOptionsProblem(t *testing.T) {
	sync := thirdparty.Option{Key: "fsdb.sync", Type: "bool", Default: "true", Description: "fsync"}
	mode := thirdparty.Option{Key: "fsdb.mode", Type: "enum", Enum: []string{"a", "b"}, Default: "a", Description: "mode"}
	feature := func(opts []thirdparty.Option) thirdparty.Feature {
		return thirdparty.Feature{Name: "fsdb", Options: opts}
	}
	other := sync
	other.Default = "false"
	for _, c := range []struct {
		name     string
		listed   []thirdparty.Option // nil: the file has no "options"
		declared []thirdparty.Option
		want     string
	}{
		{"not listed: from the package", nil, []thirdparty.Option{sync, mode}, ""},
		{"listed alike", []thirdparty.Option{mode, sync}, []thirdparty.Option{sync, mode}, ""},
		{"listed as none", []thirdparty.Option{}, nil, ""},
		{"another default", []thirdparty.Option{other}, []thirdparty.Option{sync},
			`feature fsdb: option fsdb.sync is "bool default true" in the package but "bool default false" in the feature file: make f.json's "options" agree with the package, or remove "options" from it`},
		{"not in the file", []thirdparty.Option{sync}, []thirdparty.Option{sync, mode},
			"feature fsdb: option fsdb.mode (enum default a of a|b) is declared by the package but not listed in the feature file"},
		{"listed as none but declared", []thirdparty.Option{}, []thirdparty.Option{sync},
			"feature fsdb: option fsdb.sync (bool default true) is declared by the package but not listed"},
		{"not in the package", []thirdparty.Option{sync, mode}, []thirdparty.Option{sync},
			"feature fsdb: option fsdb.mode is listed in the feature file but the package does not declare it"},
		{"outside its section", nil, []thirdparty.Option{{Key: "other.sync", Type: "bool"}},
			"feature fsdb: its package declares option other.sync, outside the feature's own section: name it fsdb.<something>"},
	} {
		err := OptionsProblem(feature(c.listed), c.declared, "f.json")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: %v\nwant one line containing %q", c.name, err, c.want)
		}
	}
}
