package thirdparty

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/navius-dev/navius/internal/auth" // declares core options
	_ "github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/providers"
)

const goodFile = `{
  "schema": 1,
  "features": [{
    "name": "acme_db",
    "description": "ACME's database.",
    "category": "storage",
    "provides": ["database:acme", "cache:acme"],
    "schemes": ["database:acme", "cache:acme"],
    "requires": ["memory"],
    "options": [
      {"key": "acme_db.mode", "type": "enum", "enum": ["fast", "safe"], "default": "safe", "description": "Mode."},
      {"key": "acme_db.token", "type": "string", "secret": true, "description": "Token."}
    ],
    "package": "example.com/acme/db",
    "conformance_test": "TestConformance"
  }]
}`

func TestParseGood(t *testing.T) {
	f, err := Parse("navius-feature.json", []byte(goodFile))
	if err != nil {
		t.Fatal(err)
	}
	feat := f.Features[0]
	if feat.Name != "acme_db" || feat.Package != "example.com/acme/db" || feat.ConformanceTest != "TestConformance" {
		t.Fatalf("parsed %+v", feat)
	}
	if got := feat.Suites(); !slices.Equal(got, []string{"database", "cache"}) {
		t.Fatalf("suites = %v", got)
	}
	opts := feat.ProviderOptions()
	if len(opts) != 2 || opts[0].Type != providers.Enum || !opts[1].Secret || opts[0].Feature != "acme_db" || opts[1].EnvName() != "NAVIUS_ACME_DB_TOKEN" {
		t.Fatalf("options = %+v", opts)
	}
}

// Each malformed file is refused with one line that names the file, the
// place and the fix.
func TestParseRefuses(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(goodFile, old) {
			t.Fatalf("goodFile lacks %q", old)
		}
		return strings.Replace(goodFile, old, new, 1)
	}
	for _, c := range []struct{ name, data, want string }{
		{"unknown top field", edit(`"schema": 1,`, `"schema": 1, "version": 2,`), `the top level: unknown field "version"`},
		{"unknown feature field", edit(`"provides"`, `"provide"`), `feature "acme_db": unknown field "provide" (did you mean "provides"?): remove it; the fields are name, description`},
		{"unknown option field", edit(`"secret": true`, `"secrets": true`), `feature "acme_db", options[1]: unknown field "secrets" (did you mean "secret"?)`},
		{"not JSON", `{"schema": 1,`, "the file is empty or cut short"},
		{"syntax", "{\n\"schema\": 1,\n\"features\": [}\n", "not valid JSON at line 3"},
		{"wrong type", edit(`"name": "acme_db"`, `"name": 7`), `field "features.name" must be a string, not a number`},
		{"trailing", goodFile + "{}", "trailing data"},
		{"no schema", edit(`"schema": 1,`, ``), `no "schema": add "schema": 2`},
		{"future schema", edit(`"schema": 1`, `"schema": 3`), "schema 3 is not supported"},
		{"no features", `{"schema": 1, "features": []}`, `declares no feature`},
		{"bad name", edit(`"name": "acme_db"`, `"name": "Acme-DB"`), `feature "Acme-DB": the name must match`},
		{"reserved name", edit(`"name": "acme_db"`, `"name": "server"`), `feature "server": the name is reserved by navius`},
		{"no description", edit(`"ACME's database."`, `" "`), `no "description"`},
		{"no category", edit(`"category": "storage",`, ``), `no "category"`},
		{"no provides", edit(`["database:acme", "cache:acme"]`, `[]`), `"provides" is empty`},
		{"bad provides", edit(`"database:acme"`, `"database"`), `provides entry "database" is not of the form service:provider`},
		{"foreign service", edit(`"database:acme"`, `"tooling:acme"`), `a module can provide database, cache, logging, observability, not "tooling"`},
		{"no package", edit(`"package": "example.com/acme/db",`, ``), `no "package"`},
		{"bad package", edit(`"example.com/acme/db"`, `"example.com//db"`), `package "example.com//db" is not an import path`},
		{"no test", edit(`"conformance_test": "TestConformance"`, `"conformance_test": ""`), `no "conformance_test"`},
		{"bad test", edit(`"TestConformance"`, `"Testconformance"`), `conformance_test "Testconformance" is not a Go test name`},
		{"self requirement", edit(`["memory"]`, `["acme_db"]`), "requires itself"},
		{"option outside section", edit(`"acme_db.mode"`, `"mode"`), `option key "mode" must be under the feature's own section, e.g. "acme_db.mode"`},
		{"option in core section", edit(`"acme_db.mode"`, `"database.mode"`), `must be under the feature's own section, e.g. "acme_db.mode"`},
		{"option type", edit(`"type": "enum"`, `"type": "float"`), `type "float" is not one of string, int, bool`},
		{"option default", edit(`"default": "safe"`, `"default": "turbo"`), `option acme_db.mode: default "turbo" is not one of fast, safe`},
		{"enum without values", edit(`"enum": ["fast", "safe"], "default": "safe",`, ``), `is an enum without "enum" values`},
		{"option twice", edit(`"acme_db.token"`, `"acme_db.mode"`), `option "acme_db.mode" is declared twice`},
		{"no schemes", edit(`"schemes": ["database:acme", "cache:acme"],`, ``), `provides "database:acme" but "schemes" lists no database URL scheme: add the schemes its RegisterDatabase call registers, e.g. "schemes": ["database:acme"]`},
		{"no cache scheme", edit(`"schemes": ["database:acme", "cache:acme"]`, `"schemes": ["database:acme"]`), `provides "cache:acme" but "schemes" lists no cache URL scheme`},
		{"bad scheme", edit(`"schemes": ["database:acme"`, `"schemes": ["database:Ac me"`), `schemes entry "database:Ac me" is not of the form service:scheme`},
		{"scheme of a service not provided", edit(`"schemes": ["database:acme", "cache:acme"]`, `"schemes": ["database:acme", "cache:acme", "logging:acme"]`), `schemes entry "logging:acme": the feature provides no logging`},
		{"feature twice", strings.Replace(goodFile, "}]\n}", "}, "+goodFile[strings.Index(goodFile, "{\n    \"name\""):strings.LastIndex(goodFile, "}]")+1]+"]\n}", 1), `feature "acme_db" is declared twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("/m/navius-feature.json", []byte(c.data))
			if err == nil {
				t.Fatalf("accepted:\n%s", c.data)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "/m/navius-feature.json: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q\nwant one line starting with the file and containing %q", msg, c.want)
			}
		})
	}
}

// Feature names can't be the sections of navius's core options, whose keys
// a feature's options ("<name>.x") would join.
func TestReservedNamesCoverCoreSections(t *testing.T) {
	for _, o := range providers.Options() {
		if o.Feature != "core" {
			continue
		}
		section, _, _ := strings.Cut(o.Key, ".")
		if !slices.Contains(reservedNames, section) {
			t.Errorf("core option %s: section %q is not in reservedNames", o.Key, section)
		}
	}
}

func navius(t *testing.T) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadModuleExample(t *testing.T) {
	m, err := LoadModule(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(exampleDir)
	if m.Path != "example.com/navius-fsdb" || m.Dir != abs || m.FeatureFile != filepath.Join(abs, FileName) || len(m.Features) != 1 {
		t.Fatalf("module = %+v", m)
	}
	f := m.Features[0]
	if f.Name != "fsdb" || !slices.Equal(f.Provides, []string{"database:fsdb"}) || !slices.Equal(f.Suites(), []string{"database"}) {
		t.Fatalf("feature = %+v", f)
	}
	// Its options are written once, in Go: the file lists none (nil),
	// which is not "lists no options" ([]).
	if f.Options != nil {
		t.Fatalf("options = %+v, want none listed", f.Options)
	}
	none, err := Parse("f.json", []byte(strings.Replace(mustRead(t, m.FeatureFile), `"package"`, `"options": [], "package"`, 1)))
	if err != nil || none.Features[0].Options == nil {
		t.Fatalf(`"options": [] reads as %#v, %v; want an empty list`, none.Features[0].Options, err)
	}
	if err := Check(navius(t), []*Module{m}); err != nil {
		t.Fatal(err)
	}
	w, err := ParseWith("example.com/navius-fsdb=" + exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Load(w.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := (With{Module: "example.com/other"}).Load(exampleDir); err == nil || !strings.Contains(err.Error(), "holds module example.com/navius-fsdb, not example.com/other") {
		t.Fatalf("Load of the wrong module: %v", err)
	}
	wrong := With{Module: "example.com/other", Version: "v1.0.0", Dir: exampleDir}
	if _, err := wrong.Load(exampleDir); err == nil || !strings.Contains(err.Error(), "holds module example.com/navius-fsdb, not example.com/other: name the module its go.mod declares (--with example.com/navius-fsdb@v1.0.0="+exampleDir+"), or give the directory of example.com/other") {
		t.Fatalf("Load of the wrong module's directory: %v", err)
	}
}

// The fixtures for the bad inputs of --with.
func TestLoadModuleFixtures(t *testing.T) {
	nav := navius(t)
	for dir, want := range map[string]string{
		"nofeaturefile": "module example.com/navius-nofeature (../../testdata/modules/nofeaturefile) has no navius-feature.json at its root: add one",
		"unknownfields": `unknown field "provide" (did you mean "provides"?)`,
		"nameclash":     `feature "bolt" clashes with navius's own feature "bolt": rename it`,
		"missing":       "module directory ../../testdata/modules/missing does not exist",
		"":              "has no go.mod",
	} {
		t.Run(dir, func(t *testing.T) {
			m, err := LoadModule(filepath.Join(fixtures, dir))
			if err == nil {
				err = Check(nav, []*Module{m})
			}
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v\nwant one line containing %q", err, want)
			}
		})
	}
	// The init panic passes every static check: only running it shows it.
	m, err := LoadModule(filepath.Join(fixtures, "initpanic"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(nav, []*Module{m}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadModuleChecksPackageAndTest(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{strings.Replace(goodFile, `"example.com/acme/db"`, `"example.com/other/db"`, 1), "package example.com/other/db is not in module example.com/acme"},
		{strings.Replace(goodFile, `"example.com/acme/db"`, `"example.com/acme/nodir"`, 1), "package example.com/acme/nodir has no directory in the module"},
		{strings.Replace(goodFile, `"TestConformance"`, `"TestMissing"`, 1), "conformance_test TestMissing is not a test of package example.com/acme/db"},
		{goodFile, ""},
	} {
		dir := t.TempDir()
		write(t, dir, "go.mod", "module example.com/acme\n\ngo 1.26.0\n")
		write(t, dir, FileName, c.file)
		write(t, dir, "db/db.go", "package db\n")
		write(t, dir, "db/db_test.go", "package db\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) {}\n")
		_, err := LoadModule(dir)
		if c.want == "" {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func module(path string, feats ...Feature) *Module {
	for i := range feats {
		if feats[i].Package == "" {
			feats[i].Package = path
		}
		feats[i].Description, feats[i].Category = "A feature.", "storage"
	}
	return &Module{Path: path, FeatureFile: "/" + path + "/" + FileName, Features: feats}
}

func TestCheck(t *testing.T) {
	nav := navius(t)
	a := Feature{Name: "a", Provides: []string{"database:a"}, Requires: []string{"bolt"}}
	b := Feature{Name: "b", Provides: []string{"cache:b"}, Requires: []string{"a"}}
	if err := Check(nav, []*Module{module("x.com/a", a), module("x.com/b", b)}); err != nil {
		t.Fatalf("a module requiring another's feature: %v", err)
	}
	for _, c := range []struct {
		name string
		mods []*Module
		want string
	}{
		{"module twice", []*Module{module("x.com/a", a), module("x.com/a", b)}, "module x.com/a is given twice: give each --with module once"},
		{"navius name", []*Module{module("x.com/r", Feature{Name: "redis", Provides: []string{"database:r2"}})}, `/x.com/r/navius-feature.json: feature "redis" clashes with navius's own feature "redis"`},
		{"module name", []*Module{module("x.com/a", a), module("x.com/a2", Feature{Name: "a", Provides: []string{"database:a2"}})}, `/x.com/a2/navius-feature.json: feature "a" is also declared by module x.com/a (/x.com/a/navius-feature.json): rename one of them`},
		{"navius provider", []*Module{module("x.com/m", Feature{Name: "mem2", Provides: []string{"database:memory"}})}, `provides "database:memory", which navius's feature "memory" provides already`},
		{"module provider", []*Module{module("x.com/a", a), module("x.com/c", Feature{Name: "c", Provides: []string{"database:a"}})}, `provides "database:a", which feature "a" of module x.com/a provides already`},
		{"navius scheme", []*Module{module("x.com/m", Feature{Name: "r2", Provides: []string{"database:r2"}, Schemes: []string{"database:rediss"}})}, `feature "r2" serves database URL scheme "rediss", which navius's feature "redis" serves already: pick a scheme of its own`},
		{"module scheme", []*Module{module("x.com/a", Feature{Name: "a", Provides: []string{"database:a"}, Schemes: []string{"database:x"}}), module("x.com/c", Feature{Name: "c", Provides: []string{"database:c"}, Schemes: []string{"database:x"}})}, `feature "c" serves database URL scheme "x", which feature "a" of module x.com/a serves already`},
		{"unknown requirement", []*Module{module("x.com/b", b)}, `feature "b" requires "a", which is neither a navius feature nor one of another --with module`},
		{"cycle", []*Module{module("x.com/a", Feature{Name: "a", Provides: []string{"database:a"}, Requires: []string{"b"}}), module("x.com/b", b)}, "requirement cycle"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Check(nav, c.mods)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v\nwant one line containing %q", err, c.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	nav := navius(t)
	m, err := LoadModule(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Merge(nav, []*Module{m})
	if err != nil {
		t.Fatal(err)
	}
	f := merged.Feature("fsdb")
	if f == nil || f.Default || !slices.Equal(f.Modules, []string{"example.com/navius-fsdb"}) || merged.Provider("database", "fsdb") != "fsdb" ||
		f.Module != "example.com/navius-fsdb" || merged.SchemeFeature("database", "fsdb") != "fsdb" {
		t.Fatalf("merged fsdb = %+v", f)
	}
	sel, err := merged.Resolve("none,fsdb,bolt")
	if err != nil || !slices.Equal(sel.Features, []string{"bolt", "fsdb"}) || !slices.Equal(sel.External, []string{"fsdb"}) || sel.TagString() != "custom,bolt" {
		t.Fatalf("resolve = %v, %v", sel, err)
	}
	if nav.Feature("fsdb") != nil || len(nav.Features) == len(merged.Features) {
		t.Fatal("Merge changed navius's manifest")
	}
}

func TestParseWith(t *testing.T) {
	for arg, want := range map[string]With{
		"example.com/x@v1.2.3":         {Module: "example.com/x", Version: "v1.2.3"},
		"example.com/x=../local":       {Module: "example.com/x", Dir: "../local"},
		"example.com/x@v1.2.3=./local": {Module: "example.com/x", Version: "v1.2.3", Dir: "./local"},
		" example.com/x@latest ":       {Module: "example.com/x", Version: "latest"},
		// Versions that fit the path's major version, and queries.
		"example.com/x/v2@v2.1.0=./local":                  {Module: "example.com/x/v2", Version: "v2.1.0", Dir: "./local"},
		"gopkg.in/yaml.v3@v3.0.1":                          {Module: "gopkg.in/yaml.v3", Version: "v3.0.1"},
		"example.com/x@v2.0.0+incompatible":                {Module: "example.com/x", Version: "v2.0.0+incompatible"},
		"example.com/x@v0.0.0-20240101000000-abcdefabcdef": {Module: "example.com/x", Version: "v0.0.0-20240101000000-abcdefabcdef"},
		"example.com/x@master":                             {Module: "example.com/x", Version: "master"},
	} {
		got, err := ParseWith(arg)
		if err != nil || got != want {
			t.Errorf("ParseWith(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
		if err == nil && got.String() != strings.TrimSpace(arg) {
			t.Errorf("String() = %q, want %q", got.String(), strings.TrimSpace(arg))
		}
	}
	for arg, want := range map[string]string{
		"":                   "names no module",
		"@v1":                "names no module",
		"example.com/x@":     "empty version",
		"example.com/x=":     "empty directory",
		"example com/x":      "is not a module path",
		"example.com/x@v 1":  "is not a version",
		"example.com//x@v1":  "is not a module path",
		"example.com/x@a/b=": "is not a version",
		"example.com/x":      "give a version (example.com/x@v1.2.3, or example.com/x@latest to look it up) or the module's local directory (example.com/x=DIR)",
		// A major version the path does not have: refused before go runs.
		"example.com/x@v9.9.9=./dir": "version v9.9.9 does not fit module path example.com/x, which takes v0 and v1 versions only (a v9 module's path ends in /v9): give a v0 or v1 version, or the module path its go.mod declares, or drop @v9.9.9 to build the directory as it is",
		"example.com/x@v2":           "version v2 does not fit module path example.com/x",
		"example.com/x/v2@v1.0.0":    "version v1.0.0 does not fit module path example.com/x/v2, which takes v2 versions only: give a v2 version",
		"gopkg.in/yaml.v3@v2.4.0":    "which takes v3 versions only",
	} {
		if _, err := ParseWith(arg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseWith(%q) = %v, want %q", arg, err, want)
		}
	}
}

func TestModulePath(t *testing.T) {
	for src, want := range map[string]string{
		"module example.com/x\n\ngo 1.26\n":         "example.com/x",
		"// comment\nmodule \"example.com/q\"\n":    "example.com/q",
		"module example.com/c // trailing\n":        "example.com/c",
		"modules example.com/no\n":                  "",
		"go 1.26\n":                                 "",
		"\tmodule   example.com/indented   \r\n":    "example.com/indented",
		"// module example.com/commented\nmodule a": "a",
	} {
		if got := ModulePath([]byte(src)); got != want {
			t.Errorf("ModulePath(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestFetch(t *testing.T) {
	ctx := context.Background()
	// No network: the module cache answers (its contents were verified
	// when they were downloaded).
	offline := []string{"GOPROXY=off", "GOSUMDB=off"}
	m, err := LoadWith(ctx, With{Module: "example.com/navius-fsdb", Dir: exampleDir}, "", offline)
	if err != nil || m.Version != "" || !filepath.IsAbs(m.Dir) {
		t.Fatalf("local form: %+v, %v", m, err)
	}
	_, err = LoadWith(ctx, With{Module: "example.com/navius-nope", Version: "v1.0.0"}, "", offline)
	if err == nil || !strings.HasPrefix(err.Error(), "--with example.com/navius-nope@v1.0.0: ") ||
		!strings.Contains(err.Error(), "check the module path and version") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unknown module: %v", err)
	}
	// A module the cache holds (navius requires it) is found without the
	// network; it has no feature file.
	_, err = LoadWith(ctx, With{Module: "github.com/sirupsen/logrus", Version: "v1.10.2"}, "", offline)
	if err == nil || !strings.Contains(err.Error(), "module github.com/sirupsen/logrus (") || !strings.Contains(err.Error(), "has no navius-feature.json at its root") {
		t.Fatalf("a module without a feature file: %v", err)
	}
	dir, version, err := (With{Module: "github.com/sirupsen/logrus", Version: "v1.10.2"}).Fetch(ctx, "", offline)
	if err != nil || version != "v1.10.2" || !strings.Contains(dir, "logrus@v1.10.2") {
		t.Fatalf("Fetch = %q, %q, %v", dir, version, err)
	}
}

// Schema 2: a URL template for each database and cache, of a scheme the
// feature declares; the module's own test only where the harness does not
// reach.
func TestParseSchema2(t *testing.T) {
	two := strings.NewReplacer(`"schema": 1`, `"schema": 2`,
		`"conformance_test": "TestConformance"`, `"conformance": {"database": "acme://{dir}/db", "cache": "acme://{dir}"}, "durable": true`).Replace(goodFile)
	f, err := Parse("navius-feature.json", []byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if feat := f.Features[0]; !feat.Verified() || feat.Schema != 2 || !feat.Durable || feat.ConformanceTest != "" {
		t.Fatalf("parsed %+v", feat)
	}
	// An entry may be an object: settings ({id}: a fresh token) beside the
	// URL; a log sink's and an observer's are settings and a read-back.
	objects := strings.NewReplacer(`"acme://{dir}/db"`, `{"url": "acme://{dir}/db", "options": {"acme_db.table": "t_{id}"}}`,
		`"provides": ["database:acme", "cache:acme"]`, `"provides": ["database:acme", "cache:acme", "logging:acme", "observability:acme"]`,
		`"durable": true`, `"durable": true, "conformance_test": "TestConformance"`,
		`"conformance": {`, `"conformance": {"logging": {"options": {"acme_db.path": "{dir}/log"}, "read": "ReadEntries"}, "observability": {"options": {"acme_db.metrics": "{dir}/m"}}, `).Replace(two)
	f, err = Parse("navius-feature.json", []byte(objects))
	if err != nil {
		t.Fatal(err)
	}
	feat := f.Features[0]
	if !feat.Verified() || feat.Conformance["database"].Options["acme_db.table"] != "t_{id}" || feat.Conformance["cache"].URL != "acme://{dir}" ||
		feat.Conformance["logging"].Read != "ReadEntries" || feat.Conformance["observability"].Options["acme_db.metrics"] != "{dir}/m" {
		t.Fatalf("parsed %+v", feat)
	}
	// A URL alone is written back as the template.
	if data, _ := json.Marshal(feat.Conformance["cache"]); string(data) != `"acme://{dir}"` {
		t.Errorf("a URL-only entry marshals as %s", data)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"no template for the cache", `, "cache": "acme://{dir}"`, ``, `provides a cache but "conformance" has no URL template for it: add e.g. "conformance": {"cache": "acme://{dir}/data"}`},
		{"undeclared scheme", `"acme://{dir}/db"`, `"other://{dir}/db"`, `"conformance" database URL template "other://{dir}/db" uses scheme "other", which the feature does not declare in "schemes"`},
		{"a service it does not provide", `"conformance": {`, `"conformance": {"logging": {"read": "ReadEntries"}, `, `"conformance" has a logging entry, but the feature provides no logging`},
		{"no URL", `"acme://{dir}/db"`, `"{dir}/db"`, `"conformance" database URL template "{dir}/db": URL "/dir/db" has no scheme`},
		{"a log sink needs settings or its own test", `"provides": ["database:acme", "cache:acme"]`, `"provides": ["database:acme", "cache:acme", "logging:acme"]`,
			`provides a logging: give navius's harness its settings in "conformance", e.g. "conformance": {"logging": {"options": {"acme_db.path": "{dir}/out"}, "read": "ReadEntries"}}, or name the module's test that runs providertest.RunLogSinkTests in "conformance_test"`},
		{"a log sink without read", `"conformance": {`, `"provides": ["database:acme", "cache:acme", "logging:acme"], "conformance": {"logging": {"options": {"acme_db.path": "{dir}/log"}}, `,
			`"conformance" logging: name in "read" the package's function that reads back what a sink delivered`},
		{"a log sink with a URL", `"conformance": {`, `"provides": ["database:acme", "cache:acme", "logging:acme"], "conformance": {"logging": {"url": "acme://", "read": "ReadEntries"}, `,
			`"conformance" logging: a logging has no URL; give its settings in "options"`},
		{"read of a database", `"acme://{dir}/db"`, `{"url": "acme://{dir}/db", "read": "ReadAll"}`, `"conformance" database: "read" is for log sinks and observers`},
		{"read not a Go name", `"conformance": {`, `"provides": ["database:acme", "cache:acme", "logging:acme"], "conformance": {"logging": {"read": "readEntries"}, `,
			`"conformance" logging "read": "readEntries" is not an exported Go function name`},
		{"settings of another section", `"acme://{dir}/db"`, `{"url": "acme://{dir}/db", "options": {"redis.prefix": "{id}"}}`, `"conformance" database option "redis.prefix": give settings of the feature's own section, e.g. "acme_db.prefix"`},
		{"an object without a URL", `"acme://{dir}/db"`, `{"options": {"acme_db.table": "t_{id}"}}`, `"conformance" database has no URL template`},
		{"an unknown field of an entry", `"acme://{dir}/db"`, `{"url": "acme://{dir}/db", "settings": {}}`, `a "conformance" entry is a URL template or an object of "url", "options" and "read"`},
		{"schema 1 with templates", `"schema": 2`, `"schema": 1`, `"conformance" and "durable" are schema 2 fields: set "schema": 2`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(two, c.old) {
				t.Fatalf("the file lacks %q", c.old)
			}
			_, err := Parse("/m/navius-feature.json", []byte(strings.Replace(two, c.old, c.new, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v\nwant one line containing %q", err, c.want)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
