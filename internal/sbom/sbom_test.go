package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"
	"github.com/xeipuuv/gojsonschema"
)

// linked is one module as `go version -m` reports it: a dep line, or the
// => line that replaces it.
type linked struct{ Path, Version, Sum string }

// goVersionM runs `go version -m` on bin and returns the Go version and the
// modules linked in.
func goVersionM(t *testing.T, bin string) (string, []linked) {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", bin, err)
	}
	lines := strings.Split(string(out), "\n")
	_, goVersion, _ := strings.Cut(lines[0], ": ")
	var mods []linked
	for _, line := range lines[1:] {
		f := strings.Split(strings.TrimPrefix(line, "\t"), "\t")
		for len(f) < 4 {
			f = append(f, "")
		}
		switch f[0] {
		case "dep":
			mods = append(mods, linked{f[1], f[2], f[3]})
		case "=>":
			mods[len(mods)-1] = linked{f[1], f[2], f[3]}
		}
	}
	return goVersion, mods
}

func decode(t *testing.T, data []byte) *cdx.BOM {
	t.Helper()
	var doc cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&doc); err != nil {
		t.Fatalf("the CycloneDX library cannot parse the SBOM: %v\n%s", err, data)
	}
	return &doc
}

func props(ps *[]cdx.Property, name string) []string {
	var out []string
	if ps != nil {
		for _, p := range *ps {
			if p.Name == name {
				out = append(out, p.Value)
			}
		}
	}
	return out
}

// buildProg builds testdata/prog, a program that links a few modules.
func buildProg(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "prog")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "custom,bolt", "-o", exe, "./testdata/prog")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/prog: %v\n%s", err, out)
	}
	return exe
}

// TestBinary describes a real binary and checks the SBOM against what
// `go version -m` reports for the same file.
func TestBinary(t *testing.T) {
	exe := buildProg(t)
	b, err := Read(exe)
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.JSON(Options{Name: "navius", Version: "v9.9.9", Features: []string{"bolt", "memory"},
		ModuleFeatures: map[string][]string{"github.com/CycloneDX/cyclonedx-go": {"core"}}})
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, data)
	if doc.BOMFormat != "CycloneDX" || doc.SpecVersion != cdx.SpecVersion1_6 {
		t.Errorf("format %s %v", doc.BOMFormat, doc.SpecVersion)
	}
	main := doc.Metadata.Component
	raw, _ := os.ReadFile(exe)
	sum := sha256.Sum256(raw)
	if main.Name != "navius" || main.Version != "v9.9.9" || main.PackageURL != "pkg:golang/github.com/navius-dev/navius@v9.9.9" {
		t.Errorf("main component %s %s %s", main.Name, main.Version, main.PackageURL)
	}
	if main.Hashes == nil || (*main.Hashes)[0].Value != hex.EncodeToString(sum[:]) {
		t.Errorf("main component hash %v, binary sha256 %x", main.Hashes, sum)
	}
	if got := props(main.Properties, PropFeature); !slices.Equal(got, []string{"bolt", "memory"}) {
		t.Errorf("features %v", got)
	}
	if got := props(main.Properties, PropBuild+"-tags"); !slices.Equal(got, []string{"custom,bolt"}) || !slices.Equal(b.Tags(), []string{"custom", "bolt"}) {
		t.Errorf("tags setting %v, Tags() %v", got, b.Tags())
	}

	goVersion, want := goVersionM(t, exe)
	var got []linked
	var std *cdx.Component
	for _, c := range *doc.Components {
		if c.Name == "std" {
			std = &c
			continue
		}
		l := linked{Path: c.Name, Version: c.Version}
		if c.Hashes != nil {
			l.Sum = (*c.Hashes)[0].Value
		}
		if c.PackageURL != "pkg:golang/"+c.Name+"@"+c.Version || c.BOMRef != c.PackageURL {
			t.Errorf("%s: purl %s bom-ref %s", c.Name, c.PackageURL, c.BOMRef)
		}
		got = append(got, l)
	}
	if std == nil || std.Version != goVersion {
		t.Errorf("std component %+v, go version -m says %s", std, goVersion)
	}
	if len(want) == 0 {
		t.Fatal("go version -m lists no modules: the comparison would prove nothing")
	}
	for i := range want {
		if want[i].Sum != "" {
			want[i].Sum, _ = goSumSHA256(want[i].Sum)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("SBOM modules differ from go version -m:\n got %v\nwant %v", got, want)
	}
	for _, c := range *doc.Components {
		if c.Name == "github.com/CycloneDX/cyclonedx-go" && !slices.Equal(props(c.Properties, PropFeature), []string{"core"}) {
			t.Errorf("module features of %s: %v", c.Name, c.Properties)
		}
	}
	deps := *doc.Dependencies
	if deps[0].Ref != main.BOMRef || len(*deps[0].Dependencies) != len(*doc.Components) {
		t.Errorf("the main component should depend on every component: %+v", deps[0])
	}
	validate(t, data)
}

// validate checks the SBOM against the CycloneDX 1.6 JSON schema that the
// CycloneDX Go module ships.
func validate(t *testing.T, data []byte) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatalf("go list -m cyclonedx-go: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "schema")
	// The schema refers to two others by their http:// ids: serve them from
	// the module, offline.
	loader := gojsonschema.NewSchemaLoader()
	for id, file := range map[string]string{
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schemax.json",
	} {
		if err := loader.AddSchema(id, gojsonschema.NewReferenceLoader("file://"+filepath.Join(dir, file))); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := loader.Compile(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, "bom-1.6.schema.json")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := schema.Validate(gojsonschema.NewBytesLoader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Errors() {
		t.Errorf("CycloneDX 1.6 schema: %s", e)
	}
	// The schema takes any string as a purl: the reference library
	// parses each.
	var doc cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	components := []cdx.Component{*doc.Metadata.Component}
	if doc.Components != nil {
		components = append(components, *doc.Components...)
	}
	for _, c := range components {
		if p, err := packageurl.FromString(c.PackageURL); err != nil || p.Type != packageurl.TypeGolang || p.Name == "" {
			t.Errorf("component %s: purl %q is not a golang purl with a name (%v)", c.Name, c.PackageURL, err)
		}
	}
}

func fakeBinary() *Binary {
	return &Binary{SHA256: strings.Repeat("ab", 32), Info: &debug.BuildInfo{
		GoVersion: "go1.26.8 X:nocoverageredesign",
		Main:      debug.Module{Path: "github.com/navius-dev/navius", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "github.com/z/old", Version: "v2.0.0+incompatible", Sum: "h1:" + strings.Repeat("A", 43) + "="},
			{Path: "example.com/Upper/mod", Version: "v1.0.0", Sum: "h1:" + strings.Repeat("B", 43) + "=",
				Replace: &debug.Module{Path: "example.com/fork/mod", Version: "v1.0.1", Sum: "h1:" + strings.Repeat("C", 43) + "="}},
			{Path: "example.com/local", Version: "v0.1.0", Replace: &debug.Module{Path: "../local"}},
		},
		Settings: []debug.BuildSetting{
			{Key: "-tags", Value: "custom,bolt"}, {Key: "-ldflags", Value: "-X main.secret=hunter2"},
			{Key: "GOARCH", Value: "arm64"}, {Key: "GOARM64", Value: "v8.0"}, {Key: "vcs.revision", Value: "abc"},
		},
	}}
}

func TestModulesAndSettings(t *testing.T) {
	b := fakeBinary()
	if got := b.Tags(); !slices.Equal(got, []string{"custom", "bolt"}) {
		t.Errorf("tags %v", got)
	}
	data, err := b.JSON(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "hunter2") || strings.Contains(string(data), "ldflags") {
		t.Error("the SBOM carries -ldflags, which may hold secrets")
	}
	doc := decode(t, data)
	if m := doc.Metadata.Component; m.Name != "navius" || m.Version != "(devel)" || m.PackageURL != "pkg:golang/github.com/navius-dev/navius@%28devel%29" {
		t.Errorf("main %s %s %s", m.Name, m.Version, m.PackageURL)
	}
	for _, want := range []string{PropBuild + "GOARCH", PropBuild + "GOARM64", PropBuild + "vcs.revision", PropBuild + "-tags"} {
		if len(props(doc.Metadata.Component.Properties, want)) != 1 {
			t.Errorf("setting %s not recorded", want)
		}
	}
	comps := *doc.Components
	byName := map[string]cdx.Component{}
	var names []string
	for _, c := range comps {
		byName[c.Name] = c
		names = append(names, c.Name)
	}
	if want := []string{"std", "example.com/fork/mod", "example.com/local", "github.com/z/old"}; !slices.Equal(names, want) {
		t.Errorf("components %v, want %v (std, then modules by path)", names, want)
	}
	if std := byName["std"]; std.Version != "go1.26.8" {
		t.Errorf("std version %q", std.Version)
	}
	old := byName["github.com/z/old"]
	if old.PackageURL != "pkg:golang/github.com/z/old@v2.0.0%2Bincompatible" || (*old.Hashes)[0].Value != strings.Repeat("00", 32) {
		t.Errorf("old: %s %v", old.PackageURL, old.Hashes)
	}
	fork := byName["example.com/fork/mod"]
	if fork.Version != "v1.0.1" || !slices.Equal(props(fork.Properties, PropReplaces), []string{"example.com/Upper/mod@v1.0.0"}) {
		t.Errorf("a replaced module is described by its replacement: %+v %v", fork, fork.Properties)
	}
	// A module built from a directory: its path, its required version, the
	// directory as a property, a valid purl, no hash.
	if local := byName["example.com/local"]; local.Hashes != nil || local.Version != "v0.1.0" || local.PackageURL != "pkg:golang/example.com/local@v0.1.0" ||
		!slices.Equal(props(local.Properties, PropDirectory), []string{"../local"}) {
		t.Errorf("a directory replacement: %+v %v", local, local.Properties)
	}
	again, _ := b.JSON(Options{})
	if !bytes.Equal(data, again) {
		t.Error("the same binary gave two different SBOMs")
	}
	dated, _ := b.JSON(Options{Timestamp: time.Unix(1700000000, 0), Tool: "navius v1.0.0"})
	doc = decode(t, dated)
	if doc.Metadata.Timestamp != "2023-11-14T22:13:20Z" || (*doc.Metadata.Tools.Components)[0].Version != "v1.0.0" {
		t.Errorf("timestamp %q tools %+v", doc.Metadata.Timestamp, doc.Metadata.Tools)
	}
	if strings.Contains(string(data), `"timestamp"`) {
		t.Error("a zero Timestamp should leave the timestamp out")
	}
	validate(t, dated)
}

// Any Go binary gets a valid SBOM: one built from files has no module
// path, and so no purl; a raised module says by whom.
func TestNoModulePath(t *testing.T) {
	b := fakeBinary()
	b.Info.Main = debug.Module{}
	data, err := b.JSON(Options{RaisedBy: map[string]string{"github.com/z/old": "example.com/m (navius requires v1.0.0)"}})
	if err != nil {
		t.Fatal(err)
	}
	doc := decode(t, data)
	for _, c := range *doc.Components {
		if c.Name == "github.com/z/old" && !slices.Equal(props(c.Properties, PropRaisedBy), []string{"example.com/m (navius requires v1.0.0)"}) {
			t.Errorf("raised: %v", c.Properties)
		}
	}
	validate(t, data)
}

// TestFilesOutsideAModule describes a binary built from a file outside any
// module (go build main.go): build information names no module, only the
// package path command-line-arguments, and no version. Its purl is still a
// valid golang purl: that path at (devel), percent-encoded, parsed back by
// the purl reference library to the same string.
func TestFilesOutsideAModule(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", "hello", "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build main.go: %v\n%s", err, out)
	}
	b, err := Read(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Info.Main.Path != "" || b.Info.Path != "command-line-arguments" {
		t.Fatalf("go build main.go outside a module recorded main module %q, path %q", b.Info.Main.Path, b.Info.Path)
	}
	data, err := b.JSON(Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, data).Metadata.Component
	const want = "pkg:golang/command-line-arguments@%28devel%29"
	if m.PackageURL != want || m.BOMRef != want || m.Name != "command-line-arguments" || m.Version != "(devel)" {
		t.Errorf("main component: purl %q, bom-ref %q, name %q, version %q; want purl and bom-ref %s", m.PackageURL, m.BOMRef, m.Name, m.Version, want)
	}
	p, err := packageurl.FromString(m.PackageURL)
	if err != nil {
		t.Fatalf("purl %q: %v", m.PackageURL, err)
	}
	if p.Type != packageurl.TypeGolang || p.Name != "command-line-arguments" || p.Version != "(devel)" || p.ToString() != m.PackageURL {
		t.Errorf("purl %q parses to type %q, name %q, version %q, and back to %q", m.PackageURL, p.Type, p.Name, p.Version, p.ToString())
	}
	validate(t, data)
}

func TestBadInput(t *testing.T) {
	if _, err := Parse([]byte("#!/bin/sh\necho hi\n")); err == nil || !strings.Contains(err.Error(), "not a Go binary") {
		t.Errorf("a script: %v", err)
	}
	file := filepath.Join(t.TempDir(), "script")
	os.WriteFile(file, []byte("#!/bin/sh\n"), 0o755)
	if _, err := Read(file); err == nil || !strings.HasPrefix(err.Error(), file+" is not a Go binary") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Read of a script: %v", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file was read")
	}
	b := fakeBinary()
	b.Info.Deps[0].Sum = "h1:notbase64"
	if _, err := b.JSON(Options{}); err == nil || !strings.Contains(err.Error(), "github.com/z/old") {
		t.Errorf("a malformed go.sum hash: %v", err)
	}
}
