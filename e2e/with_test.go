package e2e

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
	"github.com/navius-dev/navius/internal/thirdparty/modtest"
)

const fsdbModule = "example.com/navius-fsdb"

// treeState is what git says of the source tree: a build must leave it as
// it found it (no go.mod change, no generated file).
func treeState(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("git", "status", "--porcelain", "--untracked-files=all")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("git status in %s: %v (the tree checks need a git checkout)", root, err)
	}
	return string(out)
}

// unchanged fails when the tree is not as before.
func unchanged(t *testing.T, before, what string) {
	t.Helper()
	if after := treeState(t); after != before {
		t.Fatalf("%s changed the source tree; git status --porcelain before:\n%s\nafter:\n%s", what, before, after)
	}
}

// features is navius --features --json, as a build with --with reads it.
type features struct {
	BuildTags  []string          `json:"build_tags"`
	Features   []reportedFeature `json:"features"`
	Consistent bool              `json:"consistent"`
}

type reportedFeature struct {
	Name         string              `json:"name"`
	Provides     []string            `json:"provides"`
	Capabilities map[string][]string `json:"capabilities"`
	Bounds       map[string]string   `json:"bounds"`
	Standard     bool                `json:"standard"`
	Modules      []linkedModule      `json:"modules"`
	Source       *struct {
		Module, Version, Replace string
	} `json:"source"`
}

// linkedModule is a module as --features --json lists it.
type linkedModule struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

func featuresOf(t *testing.T, bin string) features {
	t.Helper()
	code, out, errOut := run(t, bin, nil, "--features", "--json")
	if code != 0 {
		t.Fatalf("%s --features --json: exit %d %s", bin, code, errOut)
	}
	var f features
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("--features --json: %v\n%s", err, out)
	}
	return f
}

// withManifest is features.json with the example module's features, as the
// builder merges them.
func withManifest(t *testing.T, dirs ...string) *manifest.Manifest {
	t.Helper()
	var mods []*thirdparty.Module
	for _, d := range dirs {
		m, err := thirdparty.LoadModule(d)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, m)
	}
	merged, err := thirdparty.Merge(loadManifest(t), mods)
	if err != nil {
		t.Fatal(err)
	}
	return merged
}

// TestBuildWithModule builds the example module (examples/fsdb, local
// directory form) into navius with the builder: it is verified first, the
// tree stays unchanged, the binary lists the feature as non-standard with
// its module, serves the API on fsdb://, links the module (and a build
// without it does not: TestExclusion), and build --like rebuilds it.
func TestBuildWithModule(t *testing.T) {
	tool, _ := binary(t, "default")
	example := filepath.Join(root, "examples", "fsdb")
	before := treeState(t)
	dir := t.TempDir()

	code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--source", root, "--features", "memory",
		"--with", fsdbModule+"="+example, "--output", "out")
	if code != 0 {
		t.Fatalf("build --with: exit %d\n%s%s", code, out, errOut)
	}
	unchanged(t, before, "build --with")
	checkOutput(t, "build output", out,
		"features: fsdb, memory",
		"module:   "+fsdbModule+" (devel) => "+example+": fsdb",
		"verify:   fsdb: navius's harness on what "+fsdbModule+" registers: navius.database.v2 ",
		"verify:   fsdb: its own test TestConformance passed (reported; navius's harness decides)",
		"-modfile=<tmp>/go.mod -overlay=<tmp>/overlay.json .",
		"[3/3] done: out/navius-",
	)
	bin := onlyBinary(t, filepath.Join(dir, "out"))
	// The binary records the module's directory relative to the tree it
	// was built from (TestWithRecordedRelative builds from two paths).
	const recorded = "./examples/fsdb"

	t.Run("features", func(t *testing.T) {
		rep := featuresOf(t, bin)
		var names []string
		for _, f := range rep.Features {
			names = append(names, f.Name)
			wantStandard := f.Name != "fsdb"
			if f.Standard != wantStandard {
				t.Errorf("feature %s: standard %v, want %v", f.Name, f.Standard, wantStandard)
			}
			if f.Name == "fsdb" && (f.Source == nil || f.Source.Module != fsdbModule || f.Source.Version != "(devel)" || f.Source.Replace != recorded ||
				!slices.Equal(f.Provides, []string{"database:fsdb"})) {
				t.Errorf("fsdb is listed as %+v (source %+v), want non-standard from %s (devel) => %s", f, f.Source, fsdbModule, recorded)
			}
		}
		if !slices.Equal(names, []string{"fsdb", "memory"}) || !rep.Consistent || !slices.Equal(rep.BuildTags, build.Tags(memorySelection(t))) {
			t.Fatalf("--features --json: %v, tags %v, consistent %v", names, rep.BuildTags, rep.Consistent)
		}
		// Each database provider's capabilities: all three for navius's
		// memory, none for fsdb, which implements only the base contract.
		for _, f := range rep.Features {
			want := map[string][]string{"fsdb": {}, "memory": {"conditional", "expiry", "batch"}}[f.Name]
			if got, ok := f.Capabilities["database:"+f.Name]; !ok || !slices.Equal(got, want) {
				t.Errorf("--features --json: %s's capabilities %v, want %v", f.Name, f.Capabilities, want)
			}
			if f.Name == "memory" && f.Bounds["memory.capacity"] != "1GiB" {
				t.Errorf("--features --json: memory's bounds %v, want memory.capacity 1GiB", f.Bounds)
			}
		}
		_, text, _ := run(t, bin, nil, "--features")
		if !strings.Contains(text, "Non-standard features") || !strings.Contains(text, fsdbModule+" (devel) => "+recorded) {
			t.Errorf("--features does not list fsdb as non-standard with its module:\n%s", text)
		}
	})

	t.Run("serves", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=fsdb://" + data, "NAVIUS_FSDB_SYNC=false"})
		exercise(t, p)
		// fsdb lacks the optional capabilities: requests that need one
		// get 501 naming it, and nothing is written.
		for _, r := range []struct {
			method, path, body, capability string
			hdr                            []string
		}{
			{"PUT", "/api/v1/c/cond", "v", "conditional", []string{"If-Match", "*"}},
			{"PUT", "/api/v1/c/cond", "v", "conditional", []string{"If-None-Match", "*"}},
			{"DELETE", "/api/v1/c/cond", "", "conditional", []string{"If-Match", `"x"`}},
			{"PUT", "/api/v1/c/cond?ttl=30s", "v", "expiry", nil},
			{"POST", "/api/v1/_batch", `{"operations":[{"op":"put","collection":"c","key":"cond","value":"v"}]}`, "batch", nil},
		} {
			code, _, body := harness.Request(t, r.method, p.URL+r.path, r.body, r.hdr...)
			if code != http.StatusNotImplemented || !strings.Contains(body, `\"`+r.capability+`\" capability`) {
				t.Errorf("%s %s %v on fsdb = %d %s, want 501 naming the %q capability", r.method, r.path, r.hdr, code, body, r.capability)
			}
		}
		if code, body := p.Do(t, "GET", "/api/v1/c/cond", ""); code != http.StatusNotFound {
			t.Errorf("after the refused writes GET = %d %s, want 404", code, body)
		}
		status, body := p.Do(t, "GET", "/info", "")
		var info struct {
			Providers   map[string]string `json:"providers"`
			Features    []string          `json:"features"`
			NonStandard []struct {
				Name, Module, Version, Replace string
			} `json:"non_standard_features"`
		}
		if err := json.Unmarshal([]byte(body), &info); status != 200 || err != nil {
			t.Fatalf("/info = %d %s", status, body)
		}
		if info.Providers["database"] != "fsdb" || !slices.Contains(info.Features, "fsdb") ||
			len(info.NonStandard) != 1 || info.NonStandard[0].Module != fsdbModule || info.NonStandard[0].Replace != recorded {
			t.Fatalf("/info = %s", body)
		}
		// The values are in fsdb's files, one per key.
		if files, _ := filepath.Glob(filepath.Join(data, "c-*", "k-*")); len(files) == 0 {
			t.Fatalf("no key files under %s: fsdb did not store the API's values", data)
		}
		if err := p.Stop(t); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Logs())
		}
	})

	// The SBOM names every linked module (as go version -m does) with the
	// feature that brings it; the module built from a directory by its
	// path and version, the directory a property.
	t.Run("sbom", func(t *testing.T) {
		linked := linkedModules(t, bin)
		comps := sbomModules(t, tool, bin)
		for _, c := range comps {
			if !linked[c.Name] || len(c.Props["navius:feature"]) == 0 || !strings.HasPrefix(c.Purl, "pkg:golang/"+c.Name+"@") {
				t.Errorf("component %s %s (%s): linked %v, features %v", c.Name, c.Version, c.Purl, linked[c.Name], c.Props["navius:feature"])
			}
			if c.Name == fsdbModule && (!slices.Equal(c.Props["navius:feature"], []string{"fsdb"}) || !slices.Equal(c.Props["navius:directory"], []string{recorded})) {
				t.Errorf("the module built from a directory: %+v", c)
			}
		}
		if len(comps) != len(linked) {
			t.Errorf("the SBOM lists %d modules, the binary links %d", len(comps), len(linked))
		}
	})

	t.Run("links", func(t *testing.T) {
		sel, err := withManifest(t, example).Resolve("none,memory,fsdb")
		if err != nil {
			t.Fatal(err)
		}
		checkModules(t, withManifest(t, example), bin, sel)
		if !linkedModules(t, bin)[fsdbModule] {
			t.Fatalf("%s does not link %s", bin, fsdbModule)
		}
	})

	t.Run("like", func(t *testing.T) {
		likeDir := t.TempDir()
		code, out, errOut := runIn(t, likeDir, "", tool, nil, "build", "--source", root, "--like", bin, "--output", "like")
		if code != 0 {
			t.Fatalf("build --like: exit %d\n%s%s", code, out, errOut)
		}
		unchanged(t, before, "build --like")
		if !strings.Contains(out, "the modules from outside navius it carries from its dependencies: "+fsdbModule+"="+example) {
			t.Errorf("build --like does not say it found the module:\n%s", out)
		}
		again := featuresOf(t, onlyBinary(t, filepath.Join(likeDir, "like")))
		if first := featuresOf(t, bin); !reflectEqual(t, again, first) {
			t.Fatalf("--like built %+v, want %+v", again, first)
		}
	})
}

// sbomModule is a module component of navius sbom's output, with its
// properties by name.
type sbomModule struct {
	Name, Version, Purl string
	Props               map[string][]string
}

// sbomModules runs tool sbom bin and returns its components but std.
func sbomModules(t *testing.T, tool, bin string) []sbomModule {
	t.Helper()
	code, out, errOut := run(t, tool, nil, "sbom", bin)
	if code != 0 {
		t.Fatalf("sbom: exit %d %s", code, errOut)
	}
	var doc struct {
		Components []struct {
			Name, Version, Purl string
			Properties          []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	var mods []sbomModule
	for _, c := range doc.Components {
		if c.Name == "std" {
			continue
		}
		m := sbomModule{Name: c.Name, Version: c.Version, Purl: c.Purl, Props: map[string][]string{}}
		for _, p := range c.Properties {
			m.Props[p.Name] = append(m.Props[p.Name], p.Value)
		}
		mods = append(mods, m)
	}
	return mods
}

// TestBuildWithDependencies builds in testdata/modules/shardmem, a module
// with a real dependency tree (github.com/zeebo/xxh3, which on amd64
// brings github.com/klauspost/cpuid/v2) whose go.mod requires
// golang.org/x/sys above navius's own requirement. The build reports the
// raise with both versions; the SBOM lists exactly the modules go version
// -m lists, each attributed to the features that bring it (every module
// that neither the core nor memory declares to shardmem), and the raised
// one says who raised it; --features --json lists shardmem's modules as it
// lists memory's; and --strict refuses the build, in one line naming the
// module, the dependency and both versions.
func TestBuildWithDependencies(t *testing.T) {
	const mod, feature, raised = "example.com/navius-shardmem", "shardmem", "golang.org/x/sys"
	tool, _ := binary(t, "default")
	fixture := filepath.Join(root, "testdata", "modules", "shardmem")
	from, to := requirement(t, filepath.Join(root, "go.mod"), raised), requirement(t, filepath.Join(fixture, "go.mod"), raised)
	if from == to {
		t.Fatalf("navius and %s both require %s %s: the fixture must require a newer one (raise it in %s)", mod, raised, from, filepath.Join(fixture, "go.mod"))
	}
	before := treeState(t)
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--source", root, "--features", "memory", "--with", mod+"="+fixture, "--output", "out")
	if code != 0 {
		t.Fatalf("build --with: exit %d\n%s%s", code, out, errOut)
	}
	unchanged(t, before, "build --with")
	checkOutput(t, "build output", out,
		"module:   "+mod+" raises "+raised+" "+from+" -> "+to+" (navius requires "+from+"; --strict refuses this)",
		"verify:   "+feature+": navius's harness on what "+mod+" registers: navius.database.v2 ")
	bin := onlyBinary(t, filepath.Join(dir, "out"))
	linked := linkedVersions(t, bin)
	if linked[raised] != to {
		t.Fatalf("the binary links %s %s, want %s, the version %s requires", raised, linked[raised], to, mod)
	}

	// What only shardmem brings: every linked module that neither the
	// core nor memory declares in features.json.
	m := loadManifest(t)
	declared := append(slices.Clone(m.Core.Modules), m.Feature("memory").Modules...)
	var brought []string
	for path := range linked {
		if !slices.Contains(declared, path) {
			brought = append(brought, path)
		}
	}
	slices.Sort(brought)
	for _, want := range []string{mod, "github.com/zeebo/xxh3"} {
		if !slices.Contains(brought, want) {
			t.Fatalf("the binary does not link %s (it links %v besides navius's own)", want, brought)
		}
	}

	t.Run("sbom", func(t *testing.T) {
		comps := sbomModules(t, tool, bin)
		var names, attributed []string
		for _, c := range comps {
			names = append(names, c.Name)
			feats := c.Props["navius:feature"]
			switch {
			case len(feats) == 0:
				t.Errorf("component %s %s has no navius:feature", c.Name, c.Version)
			case slices.Contains(m.Core.Modules, c.Name) && !slices.Contains(feats, "core"):
				t.Errorf("core module %s is attributed to %v, not core", c.Name, feats)
			}
			if slices.Contains(feats, feature) {
				attributed = append(attributed, c.Name)
			}
			if c.Version != linked[c.Name] && c.Name != mod {
				t.Errorf("component %s is at %s, the binary links %s", c.Name, c.Version, linked[c.Name])
			}
			wantRaise := []string(nil)
			if c.Name == raised {
				wantRaise = []string{mod + " (navius requires " + from + ")"}
			}
			if !slices.Equal(c.Props["navius:raised-by"], wantRaise) {
				t.Errorf("component %s: navius:raised-by %q, want %q", c.Name, c.Props["navius:raised-by"], wantRaise)
			}
		}
		slices.Sort(names)
		if want := slices.Sorted(maps.Keys(linked)); !slices.Equal(names, want) {
			t.Errorf("the SBOM lists %d modules %v; go version -m lists %d %v", len(names), names, len(want), want)
		}
		if !slices.Equal(attributed, brought) {
			t.Errorf("the SBOM attributes %v to %s, want %v (what the binary links besides the core's and memory's)", attributed, feature, brought)
		}
		t.Logf("the SBOM lists %d modules, go version -m %d; %d attributed to %s: %v", len(names), len(linked), len(attributed), feature, attributed)
	})

	t.Run("features", func(t *testing.T) {
		rep := featuresOf(t, bin)
		lists := map[string][]string{}
		for _, f := range rep.Features {
			for _, l := range f.Modules {
				lists[f.Name] = append(lists[f.Name], l.Path)
				want := linked[l.Path]
				if l.Path == mod {
					want = "(devel)" // the local form, as its source says
				}
				if l.Version != want {
					t.Errorf("--features --json: %s's module %s at %s, want %s", f.Name, l.Path, l.Version, want)
				}
			}
			slices.Sort(lists[f.Name])
		}
		// memory lists the modules features.json gives it; shardmem lists
		// its own module and what its package needs beyond the core.
		if want := slices.Sorted(slices.Values(m.Feature("memory").Modules)); !slices.Equal(lists["memory"], want) {
			t.Errorf("--features --json: memory's modules %v, want %v", lists["memory"], want)
		}
		if !slices.Equal(lists[feature], brought) {
			t.Errorf("--features --json: %s's modules %v, want %v", feature, lists[feature], brought)
		}
		// The text lists them too, after the module's source.
		_, text, _ := run(t, bin, nil, "--features")
		var line string
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, feature+" ") {
				line = l
			}
		}
		wants := []string{mod + " (devel) => ./testdata/modules/shardmem"}
		for _, path := range brought {
			if path != mod {
				wants = append(wants, path+" "+linked[path])
			}
		}
		checkOutput(t, "--features' line for "+feature, line, wants...)
	})

	t.Run("strict", func(t *testing.T) {
		dir := t.TempDir()
		code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--source", root, "--features", "memory", "--with", mod+"="+fixture, "--strict", "--output", "out")
		checkExit(t, "build --with --strict", code, errOut, 2, []string{mod + " raises " + raised + " from " + from + " (navius's requirement) to " + to, "--strict refuses"})
		if strings.Contains(out, "verify:") {
			t.Errorf("--strict verified the module before refusing its raise:\n%s", out)
		}
		if bins, _ := filepath.Glob(filepath.Join(dir, "out", "navius-*")); len(bins) > 0 {
			t.Errorf("a refused build left %v", bins)
		}
		unchanged(t, before, "a refused build")
	})
}

// requirement is the version of path that the go.mod at gomod requires.
func requirement(t *testing.T, gomod, path string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "edit", "-json", gomod).Output()
	if err != nil {
		t.Fatalf("go mod edit -json %s: %v", gomod, err)
	}
	var mod struct {
		Require []struct{ Path, Version string }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		t.Fatal(err)
	}
	for _, r := range mod.Require {
		if r.Path == path {
			return r.Version
		}
	}
	t.Fatalf("%s does not require %s", gomod, path)
	return ""
}

// reflectEqual compares two reports through their JSON.
func reflectEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestBuildWithProfile: a profile carries its --with modules (a directory
// inside the tree relative to it), profile show lists them, and build
// --profile builds them in; --no-verify says that it skipped the check. It
// works in a copy of the tree, since profile save writes into it.
func TestBuildWithProfile(t *testing.T) {
	tool, _ := binary(t, "default")
	src := copyTree(t)
	step := func(args ...string) string {
		t.Helper()
		code, out, errOut := runIn(t, src, "", tool, nil, args...)
		if code != 0 {
			t.Fatalf("navius %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	step("profile", "save", "edge", "--features", "memory", "--with", fsdbModule+"="+filepath.Join(src, "examples", "fsdb"))
	var p struct {
		Features []string
		With     []string
	}
	data, _ := os.ReadFile(filepath.Join(src, "profiles", "edge.json"))
	if err := json.Unmarshal(data, &p); err != nil || !slices.Equal(p.Features, []string{"fsdb", "memory"}) || !slices.Equal(p.With, []string{fsdbModule + "=./examples/fsdb"}) {
		t.Fatalf("profiles/edge.json = %s (%v)", data, err)
	}
	if out := step("profile", "show", "edge"); !strings.Contains(out, "with:        "+fsdbModule+" (devel) => "+filepath.Join(src, "examples", "fsdb")+": fsdb") {
		t.Fatalf("profile show does not list the module:\n%s", out)
	}
	out := step("build", "--profile", "edge", "--no-verify", "--output", "bin")
	if !strings.Contains(out, "verify:   skipped (--no-verify)") || !strings.Contains(out, "[3/3] done: bin/navius-edge") {
		t.Fatalf("build --profile edge --no-verify:\n%s", out)
	}
	if got := reportedFeatures(t, filepath.Join(src, "bin", "navius-edge")); !slices.Equal(got, []string{"fsdb", "memory"}) {
		t.Fatalf("the edge profile built %v", got)
	}
	// A command that does not build modules says which one does.
	if code, _, errOut := runIn(t, src, "", tool, nil, "package", "--profile", "edge"); code != 2 || !strings.Contains(errOut, "navius build --profile edge builds it") {
		t.Fatalf("package --profile edge: exit %d %q", code, errOut)
	}
}

// copyTree copies the tracked files of the source tree to a temporary
// directory.
func copyTree(t *testing.T) string {
	t.Helper()
	return copyTreeTo(t, t.TempDir())
}

// copyTreeTo copies the tree's tracked files into dst.
func copyTreeTo(t *testing.T, dst string) string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		st, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the working tree
		}
		copyFile(t, filepath.Join(root, f), filepath.Join(dst, f), st.Mode())
	}
	return dst
}

// TestBuildWithRefusals: bad --with input is refused before anything is
// built (or, for a provider that breaks navius at startup, by the check
// run of the new binary, which is then removed), each in one line with
// exit 2 and no change to the tree.
func TestBuildWithRefusals(t *testing.T) {
	tool, _ := binary(t, "default")
	fixture := func(name string) string { return filepath.Join(root, "testdata", "modules", name) }
	example := fsdbModule + "=" + filepath.Join(root, "examples", "fsdb")
	// Copies of the example with one file edited: a feature file that
	// disagrees with its code, a go.mod go refuses.
	editedFile := func(name, old, new string) string {
		dir := t.TempDir()
		files, _ := filepath.Glob(filepath.Join(root, "examples", "fsdb", "*"))
		for _, f := range files {
			copyFile(t, f, filepath.Join(dir, filepath.Base(f)), 0o644)
		}
		path := filepath.Join(dir, name)
		data, _ := os.ReadFile(path)
		if !strings.Contains(string(data), old) {
			t.Fatalf("examples/fsdb/%s no longer has %s", name, old)
		}
		os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
		return fsdbModule + "=" + dir
	}
	edited := func(old, new string) string { return editedFile(thirdparty.FileName, old, new) }
	broken := t.TempDir()
	if err := modtest.BrokenFSDB(root, broken); err != nil {
		t.Fatal(err)
	}
	forged := t.TempDir()
	if err := modtest.ForgedMarker(root, forged); err != nil {
		t.Fatal(err)
	}
	// fsdb's options are in Go only; a file that lists them is held to them.
	otherDefault := edited(`"package"`, `"options": [{"key": "fsdb.sync", "type": "bool", "default": "false", "description": "fsync"}], "package"`)
	moreSchemes := edited(`"schemes": ["database:fsdb"]`, `"schemes": ["database:fsdb", "database:fsdb2"]`)
	// go refuses this go.mod in a message of its own, which must reach
	// the user whole (its first line alone names no problem).
	badRequire := editedFile("go.mod", "\nrequire ", "\nrequire example.com/nosuchdep v9.0.0\n\nrequire ")
	// Refused before anything runs (nothing printed: no module resolved,
	// nothing verified or built), or at least before verification.
	early := map[string]bool{"wrong module path": true, "version does not fit the path": true}
	beforeVerify := map[string]bool{"go refuses the module's go.mod": true}
	before := treeState(t)
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"unknown module", nil, []string{"--with", "navius.invalid/no-such-module@latest"}, []string{"--with navius.invalid/no-such-module@latest:", "check the module path and version"}},
		// A bare module path is refused before any network lookup.
		{"no version or directory", []string{"GOPROXY=off"}, []string{"--with", "navius.invalid/no-such-module"},
			[]string{"give a version (navius.invalid/no-such-module@v1.2.3, or navius.invalid/no-such-module@latest to look it up) or the module's local directory"}},
		{"unknown module offline", []string{"GOPROXY=off"}, []string{"--with", "navius.invalid/no-such-module@v1.0.0"}, []string{"--with navius.invalid/no-such-module@v1.0.0:", "GOPROXY=off"}},
		{"version that does not exist", nil, []string{"--with", "github.com/sirupsen/logrus@v1.99.99"}, []string{"--with github.com/sirupsen/logrus@v1.99.99:", "check the module path and version"}},
		{"no feature file", nil, []string{"--with", "example.com/navius-nofeature=" + fixture("nofeaturefile")}, []string{"has no navius-feature.json at its root"}},
		{"unknown field", nil, []string{"--with", "example.com/navius-unknownfields=" + fixture("unknownfields")}, []string{`unknown field "provide" (did you mean "provides"?)`}},
		{"name clash", nil, []string{"--with", "example.com/navius-nameclash=" + fixture("nameclash")}, []string{`feature "bolt" clashes with navius's own feature "bolt"`}},
		{"module twice", nil, []string{"--with", example, "--with", example}, []string{"module " + fsdbModule + " is given twice"}},
		{"wrong module path", nil, []string{"--with", "example.com/other=" + filepath.Join(root, "examples", "fsdb")},
			[]string{"holds module " + fsdbModule + ", not example.com/other: name the module its go.mod declares (--with " + fsdbModule + "=" + filepath.Join(root, "examples", "fsdb") + "), or give the directory of example.com/other"}},
		// A version whose major the module path does not have (go's rule
		// for v2 and later): refused before go runs, naming the fix.
		{"version does not fit the path", nil, []string{"--with", fsdbModule + "@v9.9.9=" + filepath.Join(root, "examples", "fsdb")},
			[]string{"version v9.9.9 does not fit module path " + fsdbModule + ", which takes v0 and v1 versions only", "give a v0 or v1 version", "or drop @v9.9.9 to build the directory as it is"}},
		{"go refuses the module's go.mod", nil, []string{"--with", badRequire},
			[]string{"--with: adding the modules to a copy of go.mod: go get ", `require example.com/nosuchdep: version "v9.0.0" invalid: should be v0 or v1, not v9`}},
		{"no-verify alone", nil, []string{"--no-verify"}, []string{"--no-verify goes with --with"}},
		{"broken provider", nil, []string{"--with", "example.com/navius-brokenfsdb=" + broken},
			[]string{"verify example.com/navius-brokenfsdb: conformance case TestNaviusHarness/brokenfsdb/database:brokenfsdb/navius.database.v2/Delete failed"}},
		// The two cheats of issue 22: each module's own test passes; what
		// it registers does not.
		{"test of a wrapper", nil, []string{"--with", "example.com/navius-wrapmem=" + fixture("wrapmem")},
			[]string{"verify example.com/navius-wrapmem: conformance case TestNaviusHarness/wrapmem/database:wrapmem/navius.database.v2/Delete failed"}},
		{"forged marker", nil, []string{"--with", "example.com/navius-forgedmarker=" + forged},
			[]string{"verify example.com/navius-forgedmarker: conformance case TestNaviusHarness/forged/database:forged/navius.database.v2/Delete failed"}},
		// A schema-1 module is verified by its own test only.
		{"strict", nil, []string{"--with", "example.com/navius-shadow=" + fixture("initpanic"), "--strict"},
			[]string{"verify example.com/navius-shadow: feature shadow is not verified by navius's harness (its feature file is schema 1", "--strict asks for that"}},
		// The check run holds the binary to the feature file.
		{"options differ", nil, []string{"--with", otherDefault, "--no-verify"},
			[]string{`feature fsdb: option fsdb.sync is "bool default true" in the package but "bool default false" in the feature file: make `, `remove "options" from it`}},
		{"schemes differ", nil, []string{"--with", moreSchemes, "--no-verify"},
			[]string{"feature fsdb registered the URL schemes [database:fsdb], but ", "lists [database:fsdb database:fsdb2]"}},
		// Its own conformance test passes; the check run finds the panic.
		{"init panic", nil, []string{"--with", "example.com/navius-shadow=" + fixture("initpanic"), "--no-verify"},
			[]string{"the check run of the built binary failed", `panic: database: scheme "memory"`, "the binary is removed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"build", "--source", root, "--features", "memory", "--output", "out"}, c.args...)
			code, out, errOut := runIn(t, dir, "", tool, c.env, args...)
			if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
				t.Fatalf("navius %v: exit %d, stderr %q; want exit 2 and one line\n%s", c.args, code, errOut, out)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("navius %v: stderr %q lacks %q", c.args, errOut, w)
				}
			}
			if bins, _ := filepath.Glob(filepath.Join(dir, "out", "navius-*")); len(bins) > 0 {
				t.Errorf("a refused build left %v", bins)
			}
			if (early[c.name] || beforeVerify[c.name]) && strings.Contains(out, "verify:") {
				t.Errorf("navius %v: refused only after verifying:\n%s", c.args, out)
			}
			if early[c.name] && out != "" {
				t.Errorf("navius %v: refused only after it began:\n%s", c.args, out)
			}
			unchanged(t, before, "a refused build")
		})
	}
}

// TestBuildWithCommaDir: a --with directory whose name holds a comma is
// one directory (the flag is not split at commas), built in and named
// whole in the binary.
func TestBuildWithCommaDir(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(root, "examples", "fsdb", "*"))
	for _, f := range files {
		copyFile(t, f, filepath.Join(dir, "fs,db", filepath.Base(f)), 0o644)
	}
	code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--source", root, "--features", "memory", "--with", fsdbModule+"=./fs,db", "--no-verify", "--output", "out")
	if code != 0 {
		t.Fatalf("build --with %s=./fs,db: exit %d\n%s%s", fsdbModule, code, out, errOut)
	}
	if !strings.Contains(out, "=> "+filepath.Join(dir, "fs,db")+": fsdb") {
		t.Errorf("build does not name the directory whole:\n%s", out)
	}
	if got := reportedFeatures(t, onlyBinary(t, filepath.Join(dir, "out"))); !slices.Equal(got, []string{"fsdb", "memory"}) {
		t.Fatalf("built %v, want fsdb and memory", got)
	}
}

// TestBuildFromConfig: a config using redis:// and the Splunk endpoint
// builds exactly redis and splunk (and what they require), saying why; a
// URL scheme no feature serves fails naming the key.
func TestBuildFromConfig(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	config := `listen: 127.0.0.1:8080
database:
  url: redis://cache.internal:6379/0
cache:
  url: redis://cache.internal:6379/0
splunk:
  endpoint: https://splunk.example.com:8088
log.level: info
`
	os.WriteFile(filepath.Join(dir, "navius.yaml"), []byte(config), 0o644)
	// The built binary's config check runs on the config, in this
	// environment: it needs the Splunk token, or it refuses what serve would.
	code, out, errOut := runIn(t, dir, "", tool, []string{"NAVIUS_SPLUNK_TOKEN=hec-token"}, "build", "--source", root, "--from-config", "navius.yaml", "--output", "out")
	if code != 0 {
		t.Fatalf("build --from-config: exit %d\n%s%s", code, out, errOut)
	}
	want, err := loadManifest(t).Resolve("none,redis,splunk")
	if err != nil {
		t.Fatal(err)
	}
	if got := reportedFeatures(t, onlyBinary(t, filepath.Join(dir, "out"))); !slices.Equal(got, want.Features) {
		t.Fatalf("--from-config built %v, want %v\n%s", got, want.Features, out)
	}
	for _, why := range []string{"redis: database.url is redis:// (line 3); cache.url is redis:// (line 5)", "splunk: splunk.endpoint is set (line 7)"} {
		if !strings.Contains(out, why) {
			t.Errorf("build --from-config does not say %q:\n%s", why, out)
		}
	}

	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("database:\n  url: mysql://db.internal/navius\n"), 0o644)
	code, _, errOut = runIn(t, dir, "", tool, nil, "build", "--source", root, "--from-config", "bad.yaml")
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || !strings.Contains(errOut, `bad.yaml line 2: database.url: no feature serves database URL scheme "mysql"`) {
		t.Fatalf("--from-config with a mysql:// URL: exit %d, %q", code, errOut)
	}
}

// TestBuildFromConfigEnvironment: --from-config reads the NAVIUS_*
// variables as serve does (a redis:// database.url from the environment
// builds redis), leaves out what the config only turns off (prometheus),
// and the binary's config check, in the same environment, passes; a config
// with several problems gets them all, one line each, and no build.
func TestBuildFromConfigEnvironment(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "navius.yaml"), []byte("log.level: debug\nprometheus:\n  enabled: false\n"), 0o644)
	env := []string{"NAVIUS_DATABASE_URL=redis://127.0.0.1:1"}
	code, out, errOut := runIn(t, dir, "", tool, env, "build", "--source", root, "--from-config", "navius.yaml", "--output", "out")
	if code != 0 {
		t.Fatalf("build --from-config with NAVIUS_DATABASE_URL: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"redis: database.url is redis:// (from NAVIUS_DATABASE_URL)", "prometheus: left out, prometheus.enabled is false (line 3)", "navius.yaml passes the binary's config check"} {
		if !strings.Contains(out, want) {
			t.Errorf("build --from-config does not say %q:\n%s", want, out)
		}
	}
	want, err := loadManifest(t).Resolve("none,redis")
	if err != nil {
		t.Fatal(err)
	}
	if got := reportedFeatures(t, onlyBinary(t, filepath.Join(dir, "out"))); !slices.Equal(got, want.Features) {
		t.Fatalf("--from-config built %v, want %v\n%s", got, want.Features, out)
	}

	os.WriteFile(filepath.Join(dir, "two.yaml"), []byte("foo: 1\nbar: 2\n"), 0o644)
	code, out, errOut = runIn(t, dir, "", tool, nil, "build", "--source", root, "--from-config", "two.yaml", "--output", "two")
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if code != 2 || len(lines) != 2 || !strings.Contains(lines[0], `two.yaml line 1: key "foo" belongs to no feature`) || !strings.Contains(lines[1], `two.yaml line 2: key "bar" belongs to no feature`) {
		t.Fatalf("--from-config with two unknown keys: exit %d, stderr %q; want exit 2 and a line for each\n%s", code, errOut, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "two")); err == nil {
		t.Error("a refused config built something")
	}
}

// TestBuildWithVersion builds the example in by version, as from a module
// proxy: a file:// GOPROXY serving examples/fsdb under a version made from
// its content (so that the shared module cache never holds two contents
// for one version). The binary names the version, --like rebuilds it from
// the module cache, and a version the proxy does not have is refused.
func TestBuildWithVersion(t *testing.T) {
	tool, _ := binary(t, "default")
	proxy, version := fileProxy(t, filepath.Join(root, "examples", "fsdb"), fsdbModule)
	env := []string{"GOPROXY=file://" + proxy, "GONOSUMDB=" + fsdbModule}
	before := treeState(t)
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, env, "build", "--source", root, "--features", "memory", "--with", fsdbModule+"@"+version, "--output", "out")
	if code != 0 {
		t.Fatalf("build --with %s@%s: exit %d\n%s%s", fsdbModule, version, code, out, errOut)
	}
	unchanged(t, before, "build --with MODULE@VERSION")
	bin := onlyBinary(t, filepath.Join(dir, "out"))
	rep := featuresOf(t, bin)
	i := slices.IndexFunc(rep.Features, func(f reportedFeature) bool { return f.Name == "fsdb" })
	if i < 0 || rep.Features[i].Source == nil || rep.Features[i].Source.Version != version || rep.Features[i].Source.Replace != "" {
		t.Fatalf("--features --json does not list fsdb at %s: %+v", version, rep)
	}

	code, out, errOut = runIn(t, dir, "", tool, env, "build", "--source", root, "--like", bin, "--no-verify", "--output", "like")
	if code != 0 || !strings.Contains(out, "from its dependencies: "+fsdbModule+"@"+version) {
		t.Fatalf("build --like: exit %d\n%s%s", code, out, errOut)
	}
	if got := featuresOf(t, onlyBinary(t, filepath.Join(dir, "like"))); !reflectEqual(t, got, rep) {
		t.Fatalf("--like built %+v, want %+v", got, rep)
	}

	code, _, errOut = runIn(t, dir, "", tool, env, "build", "--source", root, "--with", fsdbModule+"@v1.99.99", "--output", "missing")
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || !strings.Contains(errOut, "--with "+fsdbModule+"@v1.99.99:") {
		t.Fatalf("a version the proxy lacks: exit %d, %q", code, errOut)
	}
	unchanged(t, before, "builds by version")
}

// fileProxy lays out dir as module path at a version derived from its
// files, in a GOPROXY directory (the protocol's list, .info, .mod, .zip).
func fileProxy(t *testing.T, dir, path string) (proxy, version string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(data))
		h.Write(data)
	}
	version = "v1.0.0-e2e." + hex.EncodeToString(h.Sum(nil))[:12]
	return proxyDir(t, path, version, files), version
}

// proxyDir lays out files (by path in the module) as module path at
// version in a new GOPROXY directory: the protocol's list, .info, .mod and
// .zip.
func proxyDir(t *testing.T, path, version string, files map[string][]byte) string {
	t.Helper()
	proxy := t.TempDir()
	at := filepath.Join(proxy, filepath.FromSlash(path), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(path + "@" + version + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": []byte(`{"Version":"` + version + `","Time":"2025-01-01T00:00:00Z"}`),
		version + ".mod":  files["go.mod"],
		version + ".zip":  zipped.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proxy
}

func memorySelection(t *testing.T) manifest.Selection {
	t.Helper()
	sel, err := loadManifest(t).Resolve("memory")
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
