package main

import (
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/providers"
)

// gateFiles maps each feature's name to its gate file, providers_<name>.go.
func gateFiles() map[string]string {
	files, _ := filepath.Glob("providers_*.go")
	gates := map[string]string{}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			gates[strings.TrimSuffix(strings.TrimPrefix(f, "providers_"), ".go")] = f
		}
	}
	return gates
}

func loadManifest(t *testing.T) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Parse(manifestJSON)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGateFilesMatchManifest checks that features.json and the build-tag
// files agree: one providers_<name>.go per feature, with the constraint the
// feature's default flag calls for, registering itself under its own name.
func TestGateFilesMatchManifest(t *testing.T) {
	m := loadManifest(t)
	gates := gateFiles()
	for _, f := range m.Features {
		file, ok := gates[f.Name]
		if !ok {
			t.Errorf("feature %s has no gate file providers_%s.go", f.Name, f.Name)
			continue
		}
		delete(gates, f.Name)
		expr := buildConstraint(t, file)
		// The constraint must hold exactly for the tag sets that select
		// the feature: check it against representative tag sets.
		for _, tags := range [][]string{nil, {"custom"}, {"custom", f.Name}, {f.Name}, {"custom", "other"}} {
			got := expr.Eval(func(tag string) bool { return slices.Contains(tags, tag) })
			want := slices.Contains(m.FeaturesFromTags(tags), f.Name)
			if got != want {
				t.Errorf("%s: constraint %q with tags %v compiles the file: %v, want %v", file, expr, tags, got, want)
			}
		}
		want := "//go:build " + f.Name
		if f.Default {
			want = "//go:build !custom || " + f.Name
		}
		if line := "//go:build " + expr.String(); line != want {
			t.Errorf("%s: has %q, want %q", file, line, want)
		}
		src, _ := os.ReadFile(file)
		if !strings.Contains(string(src), `buildinfo.MarkCompiled("`+f.Name+`")`) {
			t.Errorf("%s does not call buildinfo.MarkCompiled(%q)", file, f.Name)
		}
		for _, p := range f.Provides {
			_, name, _ := strings.Cut(p, ":")
			if !strings.Contains(string(src), `"`+name+`"`) {
				t.Errorf("%s: features.json says it provides %s, but the file never names %q", file, p, name)
			}
		}
	}
	for name, file := range gates {
		t.Errorf("%s has no feature %q in features.json", file, name)
	}
}

func buildConstraint(t *testing.T, file string) constraint.Expr {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if constraint.IsGoBuild(c.Text) {
				expr, err := constraint.Parse(c.Text)
				if err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				return expr
			}
		}
	}
	t.Fatalf("%s has no //go:build line", file)
	return nil
}

// TestSchemesMatchGateFiles keeps features.json's schemes (what navius
// build --from-config reads a config's URLs with) in step with the schemes
// each gate file registers: the literal lists of its RegisterDatabase and
// RegisterCache calls.
func TestSchemesMatchGateFiles(t *testing.T) {
	m := loadManifest(t)
	for _, f := range m.Features {
		file := "providers_" + f.Name + ".go"
		af, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			continue // reported by TestGateFilesMatchManifest
		}
		var registered []string
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			service := map[string]string{"RegisterDatabase": "database", "RegisterCache": "cache"}[sel.Sel.Name]
			if service == "" {
				return true
			}
			list := schemeList(t, af, call.Args[1])
			if list == nil {
				t.Errorf("%s: %s's schemes are neither a literal list nor a package variable holding one: features.json's schemes can't be checked against it", file, sel.Sel.Name)
				return true
			}
			for _, e := range list.Elts {
				lit, ok := e.(*ast.BasicLit)
				s, err := strconv.Unquote(lit.Value)
				if !ok || err != nil {
					t.Errorf("%s: %s: a scheme that is not a string literal", file, sel.Sel.Name)
					continue
				}
				registered = append(registered, service+":"+s)
			}
			return true
		})
		slices.Sort(registered)
		want := slices.Sorted(slices.Values(f.Schemes))
		if !slices.Equal(registered, want) {
			t.Errorf("%s registers schemes %v; features.json says %v for %s", file, registered, want, f.Name)
		}
	}
}

// schemeList is the literal list of schemes arg is: a []string{...} in the
// gate file, or a package variable of a provider package (redis.Schemes)
// whose value is one.
func schemeList(t *testing.T, gate *ast.File, arg ast.Expr) *ast.CompositeLit {
	t.Helper()
	if list, ok := arg.(*ast.CompositeLit); ok {
		return list
	}
	ref, ok := arg.(*ast.SelectorExpr)
	pkg, isIdent := ref.X.(*ast.Ident)
	if !ok || !isIdent {
		return nil
	}
	for _, imp := range gate.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		name := filepath.Base(path)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		dir, inTree := strings.CutPrefix(path, "github.com/navius-dev/navius/")
		if name != pkg.Name || !inTree {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(filepath.FromSlash(dir), "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if obj := src.Scope.Lookup(ref.Sel.Name); obj != nil {
				if spec, ok := obj.Decl.(*ast.ValueSpec); ok && len(spec.Values) == 1 {
					list, _ := spec.Values[0].(*ast.CompositeLit)
					return list
				}
			}
		}
	}
	return nil
}

// TestGateFilesImportOnlyTheirProviders keeps gate files from reaching into
// another feature's provider package, which would compile it in.
func TestGateFilesImportOnlyTheirProviders(t *testing.T) {
	m := loadManifest(t)
	for _, f := range m.Features {
		file := "providers_" + f.Name + ".go"
		af, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			continue // reported by TestGateFilesMatchManifest
		}
		for _, imp := range af.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			rest, ok := strings.CutPrefix(path, "github.com/navius-dev/navius/providers/")
			if !ok {
				continue
			}
			owner := strings.SplitN(rest, "/", 2)[0]
			if other := m.Feature(owner); other != nil && other.Name != f.Name && !slices.Contains(m.Closure([]string{f.Name}), owner) {
				t.Errorf("%s imports %s, the package of feature %s, which %s does not require", file, path, owner, f.Name)
			}
		}
	}
}

// TestCompiledFeaturesMatchTags checks the test binary itself (built with the
// default tags by go test): the features whose init ran equal the defaults.
func TestCompiledFeaturesMatchTags(t *testing.T) {
	m := loadManifest(t)
	r := cli.Features(m)
	if !r.Consistent {
		t.Fatal(r.Problem)
	}
}

// TestEveryProviderHasACheck: every provider of navius's tree registers its
// check (what opening it would refuse in the config, found without opening
// anything), so that config check and serve cannot disagree about it. The
// providers compiled into this test binary are asked at run time; the gate
// files of every feature, whatever the build tags, are read.
func TestEveryProviderHasACheck(t *testing.T) {
	if unchecked := providers.UncheckedProviders(); len(unchecked) > 0 {
		t.Errorf("registered without a check: %v", unchecked)
	}
	// The registration calls and the number of arguments that includes the
	// check.
	withCheck := map[string]int{"RegisterDatabase": 4, "RegisterCache": 4, "RegisterObserver": 3}
	registrations := 0
	for _, file := range gateFiles() {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if want, ok := withCheck[sel.Sel.Name]; ok {
				registrations++
				if len(call.Args) != want {
					t.Errorf("%s: providers.%s without its check (the last argument)", file, sel.Sel.Name)
				}
			}
			if sel.Sel.Name == "RegisterLogSink" {
				registrations++
				if !hasField(call, "Check") {
					t.Errorf("%s: providers.RegisterLogSink without Check", file)
				}
			}
			return true
		})
	}
	if registrations == 0 {
		t.Fatal("no registration found in the gate files")
	}
}

// hasField reports whether the composite literal passed to call sets name.
func hasField(call *ast.CallExpr, name string) bool {
	for _, arg := range call.Args {
		lit, ok := arg.(*ast.CompositeLit)
		if !ok {
			continue
		}
		for _, e := range lit.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok {
				if id, ok := kv.Key.(*ast.Ident); ok && id.Name == name {
					return true
				}
			}
		}
	}
	return false
}
