package e2e

import (
	"archive/tar"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/harness"
)

func reportedFeatures(t *testing.T, bin string) []string {
	t.Helper()
	code, out, errOut := run(t, bin, nil, "--features", "--json")
	if code != 0 {
		t.Fatalf("%s --features --json: %s", bin, errOut)
	}
	var rep struct {
		Features []struct{ Name string } `json:"features"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range rep.Features {
		names = append(names, f.Name)
	}
	return names
}

func readProfile(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "profiles", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Features []string }
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p.Features
}

// TestBuilderProfilesAndLike builds two profiles end to end, checks each
// binary's --features, then rebuilds one "like" the other binary.
func TestBuilderProfilesAndLike(t *testing.T) {
	tool, _ := binary(t, "default")
	var built []string
	for _, profile := range []string{"minimal", "standard"} {
		dir := t.TempDir()
		code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--profile", profile, "--source", root, "--output", "out")
		if code != 0 {
			t.Fatalf("build --profile %s: exit %d\n%s%s", profile, code, out, errOut)
		}
		checkOutput(t, "build output", out, "features: ", "command:  CGO_ENABLED=0 go build -trimpath -tags custom,", "[3/3] done: out/navius-"+profile)
		bin := filepath.Join(dir, "out", "navius-"+profile)
		if got, want := reportedFeatures(t, bin), readProfile(t, profile); !slices.Equal(got, want) {
			t.Fatalf("profile %s built %v, want %v", profile, got, want)
		}
		built = append(built, bin)
	}
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, nil, "build", "--like", built[0], "--source", root, "--output", "bin")
	if code != 0 {
		t.Fatalf("build --like: %s%s", out, errOut)
	}
	// The features are those of the minimal profile, so the name says so.
	if got, want := reportedFeatures(t, filepath.Join(dir, "bin", "navius-minimal")), readProfile(t, "minimal"); !slices.Equal(got, want) {
		t.Fatalf("--like built %v, want %v", got, want)
	}
}

func TestBuilderInteractivePiped(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	// Per category: its toggles (the walk stays there, echoing each), then
	// an empty answer to go on; a refused name at the last category; pprof
	// selected at the review, and an empty answer there builds.
	m := loadManifest(t)
	var answers []string
	prompts := map[string]int{}
	for _, cat := range m.Categories() {
		var toggles []string
		for _, f := range m.Features {
			if f.Category == cat && f.Default && f.Name != "memory" {
				toggles = append(toggles, "-"+f.Name)
			}
		}
		if len(toggles) > 0 {
			answers = append(answers, strings.Join(toggles, " "))
			prompts[cat]++
		}
		answers = append(answers, "")
		prompts[cat]++
	}
	lastCat := m.Categories()[len(m.Categories())-1]
	answers = slices.Insert(answers, len(answers)-1, "nosuch") // refused: the walk stays at the last category
	prompts[lastCat]++
	answers = append(answers, "pprof", "")
	code, out, errOut := runIn(t, dir, strings.Join(answers, "\n"), tool, nil,
		"build", "--interactive", "--source", root, "--output", ".")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	checkOutput(t, "output", out, "[x] memory", `! unknown feature "nosuch"`, "[ ] bolt", "[x] pprof", "Your selection:", "features: memory, pprof (from interactive selection)")
	for _, cat := range m.Categories() {
		if n := strings.Count(out, cat+"> "); n != prompts[cat] {
			t.Errorf("the %s prompt came %d times, want %d (toggles and refusals keep the category)\n%s", cat, n, prompts[cat], out)
		}
	}
	last := -1
	for i, cat := range m.Categories() {
		at := strings.Index(out, fmt.Sprintf("[%s] (%d of %d)", cat, i+1, len(m.Categories())))
		if at < last {
			t.Errorf("category %s not shown in its turn:\n%s", cat, out)
		}
		last = at
	}
	if got := reportedFeatures(t, onlyBinary(t, dir)); !slices.Equal(got, []string{"memory", "pprof"}) {
		t.Fatalf("built %v", got)
	}
}

// TestProfileRoundTrip saves, lists, shows and deletes a profile in a copy
// of the source tree's manifest (flags may follow the profile's name).
func TestProfileRoundTrip(t *testing.T) {
	tool, _ := binary(t, "default")
	src := t.TempDir()
	for _, f := range []string{"features.json", "go.mod"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(src, f), data, 0o644)
	}
	step := func(wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := runIn(t, src, "", tool, nil, args...)
		if code != wantCode {
			t.Fatalf("navius %v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		return out + errOut
	}
	step(0, "profile", "save", "edge", "--features", "memory,pprof", "--description", "edge nodes")
	if data, _ := os.ReadFile(filepath.Join(src, "profiles", "edge.json")); !strings.Contains(string(data), `"pprof"`) {
		t.Fatalf("profile file: %s", data)
	}
	if out := step(0, "profile", "list"); !strings.Contains(out, "edge") || !strings.Contains(out, "memory,pprof") {
		t.Fatalf("list: %s", out)
	}
	if out := step(0, "profile", "show", "edge"); !strings.Contains(out, "tags:        custom,memory,pprof") || !strings.Contains(out, "edge nodes") {
		t.Fatalf("show: %s", out)
	}
	if out := step(2, "profile", "save", "edge", "--features", "memory"); !strings.Contains(out, "exists") {
		t.Fatalf("overwrite: %s", out)
	}
	step(0, "profile", "save", "edge", "--features", "memory", "--force")
	step(0, "profile", "delete", "edge")
	// A profile that ships with navius is deleted only with --force.
	step(0, "profile", "save", "standard", "--features", "default")
	if out := step(2, "profile", "delete", "standard"); !strings.Contains(out, "ships with navius") || !strings.Contains(out, "--force") {
		t.Fatalf("delete of a shipped profile: %s", out)
	}
	step(0, "profile", "delete", "standard", "--force")
	if out := step(2, "profile", "show", "edge"); !strings.Contains(out, `no profile "edge"`) {
		t.Fatalf("show after delete: %s", out)
	}
}

// TestPackage packages twice (byte-identical) and checks the archive.
func TestPackage(t *testing.T) {
	tool, _ := binary(t, "default")
	var archives []string
	for range 2 {
		dir := t.TempDir()
		code, out, errOut := runIn(t, dir, "", tool, []string{"SOURCE_DATE_EPOCH=1700000000"},
			"package", "--features", "memory,splunk", "--source", root, "--output", "dist")
		if code != 0 {
			t.Fatalf("package: %s%s", out, errOut)
		}
		matches, _ := filepath.Glob(filepath.Join(dir, "dist", "navius-*-features-*-linux-amd64.tar.gz"))
		if len(matches) != 1 {
			t.Fatalf("archives: %v", matches)
		}
		sums, _ := os.ReadFile(filepath.Join(dir, "dist", "SHA256SUMS"))
		if want := harness.FileSHA256(t, matches[0]) + "  " + filepath.Base(matches[0]) + "\n"; string(sums) != want {
			t.Fatalf("SHA256SUMS = %q, want %q", sums, want)
		}
		archives = append(archives, matches[0])
	}
	if harness.FileSHA256(t, archives[0]) != harness.FileSHA256(t, archives[1]) {
		t.Fatal("two packages of the same inputs differ")
	}
	// A package of another feature set into the same directory gets its
	// own name, and SHA256SUMS a line for each.
	dist := filepath.Dir(archives[0])
	code, out, errOut := runIn(t, filepath.Dir(dist), "", tool, []string{"SOURCE_DATE_EPOCH=1700000000"},
		"package", "--features", "memory", "--source", root, "--output", "dist")
	if code != 0 {
		t.Fatalf("package --features memory: %s%s", out, errOut)
	}
	both, _ := filepath.Glob(filepath.Join(dist, "navius-*.tar.gz"))
	minimal, _ := filepath.Glob(filepath.Join(dist, "navius-*-minimal-linux-amd64.tar.gz"))
	sums, _ := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	want := ""
	for _, a := range both {
		want += harness.FileSHA256(t, a) + "  " + filepath.Base(a) + "\n"
	}
	if len(both) != 2 || len(minimal) != 1 || string(sums) != want {
		t.Fatalf("after a second feature set: archives %v, SHA256SUMS %q, want %q", both, sums, want)
	}
	contents := map[string]string{}
	eachEntry(t, archives[0], func(h *tar.Header, data []byte) {
		contents[filepath.Base(h.Name)] = string(data)
		if h.Uid != 0 || h.ModTime.Unix() != 1700000000 {
			t.Errorf("%s: uid %d time %v", h.Name, h.Uid, h.ModTime)
		}
	})
	for _, name := range []string{"navius", "LICENSE", "README.md", "navius.yaml.sample"} {
		if contents[name] == "" {
			t.Errorf("archive lacks %s", name)
		}
	}
	readme, sample := contents["README.md"], contents["navius.yaml.sample"]
	label := regexp.MustCompile(`features-[0-9a-f]{8}`).FindString(filepath.Base(archives[0]))
	if !strings.Contains(readme, "`memory`") || !strings.Contains(readme, "`splunk`") || strings.Contains(readme, "`bolt`") || !strings.Contains(readme, "This build ("+label+" in the") ||
		!strings.Contains(readme, "This build keeps data in memory only") {
		t.Errorf("README names the wrong features:\n%s", readme)
	}
	if !strings.Contains(sample, "splunk:") || strings.Contains(sample, "\nbolt:") || strings.Contains(sample, "\nredis:") || !strings.Contains(sample, `# token: ""  # secret: set NAVIUS_SPLUNK_TOKEN instead of writing it here`) || strings.Contains(sample, "bolt") {
		t.Errorf("sample config holds the wrong options:\n%s", sample)
	}
	if !strings.Contains(contents["LICENSE"], "MIT License") {
		t.Error("LICENSE")
	}

	// The packaged binary carries the packaged features, and the sample
	// config loads in it as it is.
	unpacked := t.TempDir()
	bin, sampleFile := filepath.Join(unpacked, "navius"), filepath.Join(unpacked, "navius.yaml.sample")
	os.WriteFile(bin, []byte(contents["navius"]), 0o755)
	os.WriteFile(sampleFile, []byte(sample), 0o644)
	if got := reportedFeatures(t, bin); !slices.Equal(got, []string{"memory", "splunk"}) {
		t.Errorf("the packaged binary carries %v, want memory, splunk", got)
	}
	if code, out, errOut := run(t, bin, nil, "config", "check", "--config", sampleFile); code != 0 || !strings.Contains(out, "splunk.") {
		t.Errorf("the packaged sample does not load in the packaged binary: exit %d\n%s%s", code, out, errOut)
	}
}

// TestPackageByMake: the documented ways to package give the same bytes.
// make package (its tool built by the Makefile) and navius package (run by
// a navius of another stamped version, the test's) write byte-identical
// archives and SHA256SUMS from the same tree and features; the Makefile's
// tool is stamped with the tree's version, and make docs titles the pages
// with it, as navius docs does, not "dev".
func TestPackageByMake(t *testing.T) {
	tool, _ := binary(t, "default")
	tmp := t.TempDir()
	makeDist, naviusDist := filepath.Join(tmp, "make"), filepath.Join(tmp, "navius")
	// The Makefile's tools and output go outside the tree; a make running
	// this test passes none of its flags on.
	env := []string{"MAKEFLAGS=", "MFLAGS=", "MAKELEVEL="}
	vars := []string{"BUILD_TOOL=" + filepath.Join(tmp, "build"), "TOOL=" + filepath.Join(tmp, "tool"), "DIST=" + makeDist}
	execOut(t, root, env, "make", append([]string{"-s", "package", "FEATURES=memory"}, vars...)...)
	execOut(t, root, nil, tool, "package", "--features", "memory", "--source", root, "--output", naviusDist)

	version := build.GitVersion(root)
	// sums are the SHA-256 of the files under dir, by relative path.
	sums := func(dir string) map[string]string {
		t.Helper()
		out := map[string]string{}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, path)
				out[rel] = harness.FileSHA256(t, path)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	byMake, byNavius := sums(makeDist), sums(naviusDist)
	archive := "navius-" + version + "-minimal-" + runtime.GOOS + "-" + runtime.GOARCH + ".tar.gz"
	if byMake[archive] == "" || byMake["SHA256SUMS"] == "" || len(byMake) != 2 {
		t.Fatalf("make package wrote %v, want %s and SHA256SUMS", slices.Sorted(maps.Keys(byMake)), archive)
	}
	if !maps.Equal(byMake, byNavius) {
		t.Fatalf("make package and navius package differ from the same inputs (file: SHA-256):\nmake:   %v\nnavius: %v", byMake, byNavius)
	}

	// The Makefile's tool is stamped as make build stamps, so it is the
	// tree's navius, and make docs of the defaults needs no second build.
	if got := execOut(t, root, nil, filepath.Join(tmp, "tool"), "--version"); !strings.HasPrefix(got, "navius "+version+" (") {
		t.Errorf("the Makefile's tool says %q, want navius %s", strings.TrimSpace(got), version)
	}
	// make docs of the defaults, and navius docs of them from a navius of
	// another version (which builds them), write the same pages.
	execOut(t, root, env, "make", append([]string{"-s", "docs"}, vars...)...)
	execOut(t, root, nil, tool, "docs", "--features", "default", "--source", root, "--output", filepath.Join(naviusDist, "docs"))
	index, err := os.ReadFile(filepath.Join(makeDist, "docs", "index.md"))
	if err != nil {
		t.Fatal(err)
	}
	if title, _, _ := strings.Cut(string(index), "\n"); title != "# navius "+version {
		t.Errorf("make docs titles its pages %q, want %q", title, "# navius "+version)
	}
	if byMake, byNavius := sums(filepath.Join(makeDist, "docs")), sums(filepath.Join(naviusDist, "docs")); !maps.Equal(byMake, byNavius) {
		t.Errorf("make docs and navius docs differ:\nmake:   %v\nnavius: %v", byMake, byNavius)
	}
}

// TestDocs documents memory and splunk with secrets in the environment: every
// enabled feature has a page, no disabled one does, and no secret shows.
func TestDocs(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	secrets := []string{"S3CRET-docs-splunk-token", "S3CRET-docs-api-token"}
	code, out, errOut := runIn(t, dir, "", tool,
		[]string{"NAVIUS_SPLUNK_TOKEN=" + secrets[0], "NAVIUS_AUTH_TOKENS=admin:" + secrets[1]},
		"docs", "--features", "memory,splunk", "--source", root, "--output", "site")
	if code != 0 {
		t.Fatalf("docs: %s%s", out, errOut)
	}
	all := ""
	filepath.Walk(filepath.Join(dir, "site"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			all += string(data)
		}
		return nil
	})
	for _, page := range []string{"index.md", "config.md", "api.md", "features/memory.md", "features/splunk.md"} {
		if _, err := os.Stat(filepath.Join(dir, "site", page)); err != nil {
			t.Errorf("no page %s", page)
		}
	}
	m := loadManifest(t)
	for _, f := range m.Features {
		_, err := os.Stat(filepath.Join(dir, "site", "features", f.Name+".md"))
		enabled := f.Name == "memory" || f.Name == "splunk"
		if enabled != (err == nil) {
			t.Errorf("feature %s (enabled %v): page exists %v", f.Name, enabled, err == nil)
		}
	}
	if !strings.Contains(all, "`splunk.token`") || strings.Contains(all, "`bolt.batch`") || strings.Contains(all, "/metrics") {
		t.Error("the config or API reference covers the wrong features")
	}
	// Every enabled feature is in the index and has its own options
	// section; no disabled feature has a link, a heading, an option (they
	// live under a section named after the feature) or an endpoint.
	index, _ := os.ReadFile(filepath.Join(dir, "site", "index.md"))
	config, _ := os.ReadFile(filepath.Join(dir, "site", "config.md"))
	for _, f := range m.Features {
		enabled := f.Name == "memory" || f.Name == "splunk"
		if linked := strings.Contains(string(index), "(features/"+f.Name+".md)"); linked != enabled {
			t.Errorf("index links feature %s: %v, enabled: %v", f.Name, linked, enabled)
		}
		if enabled {
			continue
		}
		for _, bad := range []string{"Feature `" + f.Name + "`", "`" + f.Name + "."} {
			if strings.Contains(all, bad) {
				t.Errorf("the docs of memory,splunk contain %q of disabled feature %s", bad, f.Name)
			}
		}
		for _, e := range f.Endpoints {
			if strings.Contains(all, "`"+e.Path+"`") {
				t.Errorf("the API reference lists %s of disabled feature %s", e.Path, f.Name)
			}
		}
	}
	if !strings.Contains(string(config), "## Feature `splunk`") {
		t.Errorf("the config reference has no section for splunk:\n%s", config)
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("docs show the secret %s", s)
		}
	}

	// Regenerated into the same directory by the tool itself (its own
	// features, the defaults), the docs keep no page of splunk, and a page
	// of the user's own in the same folder stays.
	mine := filepath.Join(dir, "site", "features", "mine.md")
	os.WriteFile(mine, []byte("# my notes\n"), 0o644)
	code, out, errOut = runIn(t, dir, "", tool,
		[]string{"NAVIUS_SPLUNK_TOKEN=" + secrets[0], "NAVIUS_AUTH_TOKENS=admin:" + secrets[1]},
		"docs", "--output", "site")
	if code != 0 {
		t.Fatalf("docs: %s%s", out, errOut)
	}
	if data, err := os.ReadFile(mine); err != nil || string(data) != "# my notes\n" {
		t.Errorf("docs removed or changed features/mine.md, a file it did not write: %v", err)
	}
	for _, f := range m.Features {
		_, err := os.Stat(filepath.Join(dir, "site", "features", f.Name+".md"))
		if f.Default != (err == nil) {
			t.Errorf("regenerated for the defaults: feature %s (default %v): page exists %v", f.Name, f.Default, err == nil)
		}
	}
	index, _ = os.ReadFile(filepath.Join(dir, "site", "index.md"))
	api, _ := os.ReadFile(filepath.Join(dir, "site", "api.md"))
	if strings.Contains(string(index), "splunk") || !strings.Contains(string(api), "/metrics") {
		t.Errorf("regenerated index or API reference is wrong:\n%s\n%s", index, api)
	}
}

// TestBuilderErrors: every error path is one line with exit code 2.
func TestBuilderErrors(t *testing.T) {
	tool, _ := binary(t, "default")
	empty := t.TempDir()
	notNavius := filepath.Join(empty, "tool")
	os.WriteFile(notNavius, []byte("#!/bin/sh\necho hello\n"), 0o755)
	cases := []struct {
		dir   string
		env   []string
		args  []string
		wants string
	}{
		{"", nil, []string{"build", "--features", "memroy"}, `unknown feature "memroy" (did you mean "memory"?)`},
		{"", nil, []string{"build", "--features", "memory", "--profile", "minimal"}, "one way"},
		{"", nil, []string{"build", "--profile", "minimall"}, `no profile "minimall"`},
		{"", nil, []string{"build", "--target", "plan9"}, "use GOOS/GOARCH"},
		{"", nil, []string{"build", "--target", "linux/z80"}, "not a platform Go builds for"},
		{"", nil, []string{"build", "--source", empty}, "is not a navius source tree"},
		{empty, []string{"GOPROXY=off"}, []string{"build"}, "no navius source tree"},
		{"", nil, []string{"build", "--source", empty, "--navius", "v1.0.0"}, "give --source (a navius checkout) or --navius (a version to fetch), not both"},
		{"", []string{"PATH=" + empty}, []string{"build", "--features", "memory"}, "the Go toolchain is not on PATH"},
		{"", nil, []string{"build", "--like", filepath.Join(empty, "nothing")}, "no such binary"},
		{"", nil, []string{"build", "--like", notNavius}, "not a navius binary"},
		{"", nil, []string{"build", "--features", "memory", "foo"}, `unexpected argument "foo"; extra go build flags go after --`},
		{"", nil, []string{"build", "--features", "memory", "--", "-race", "-tags", "redis"}, "go build flag -tags is set by navius build"},
		{"", nil, []string{"build", "--features", "memory", "--", "-o=/tmp/x"}, "go build flag -o=/tmp/x is set by navius build"},
		{"", nil, []string{"profile", "save", "Bad Name", "--features", "memory"}, "profile name"},
		{"", nil, []string{"profile", "save", "x"}, "choose the features as for navius build: --features LIST, --profile, --interactive, --like or --from-config"},
		{"", nil, []string{"profile", "save", "x", "--features", "memory", "--like", "bin/navius"}, "choose the features one way"},
		{"", nil, []string{"build", "--features", "default,none"}, "none starts from nothing and would drop default before it"},
		{"", nil, []string{"build", "--features", "memory,-memory"}, "add one (e.g. memory), or write none for a deliberately tool-only build"},
		{"", nil, []string{"profile", "save", "x", "--features", "nope"}, `unknown feature "nope"`},
		{"", nil, []string{"profile", "show"}, "takes one argument"},
		{"", nil, []string{"features", "--category", "nosuch"}, `unknown category "nosuch"`},
		{"", nil, []string{"package", "--features", "all,-memory,-memory,zz"}, `unknown feature "zz"`},
		{"", nil, []string{"docs", "extra"}, "takes no arguments"},
		{"", nil, []string{"build", "--features", "builder,prometheus"}, "--features builder,prometheus: no selected feature provides a database"},
		{"", nil, []string{"package", "--features", "default,-bolt,-memory"}, "put none first for a deliberately tool-only build"},
		{"", nil, []string{"profile", "save", "tools", "--features", "builder"}, "no selected feature provides a database"},
	}
	for _, c := range cases {
		dir := c.dir
		if dir == "" {
			dir = root
		}
		env := c.env
		code, out, errOut := runIn(t, dir, "", tool, env, c.args...)
		if code != 2 || !strings.Contains(errOut, c.wants) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("navius %v: exit %d, stderr %q (stdout %q); want exit 2 and one line with %q", c.args, code, errOut, out, c.wants)
		}
	}
}

// TestBuilderCrossCompile builds for another platform with an extra go
// build flag: the command names both, the binary is not run, and it is an
// executable for that platform.
func TestBuilderCrossCompile(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, nil,
		"build", "--features", "memory", "--target", "linux/arm64", "--source", root, "--output", "arm", "--", "-buildvcs=false")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	checkOutput(t, "output", out, "CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build", " -buildvcs=false .", "not running the linux/arm64 binary", "[3/3] done: arm/navius-minimal-linux-arm64")
	f, err := elf.Open(filepath.Join(dir, "arm", "navius-minimal-linux-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
		t.Fatalf("built %v %v, want an arm64 executable", f.Machine, f.Type)
	}

	// --like reads the arm64 binary's features from its build information
	// (it cannot run here) and builds for its platform, arm64, unless
	// --target says otherwise.
	code, out, errOut = runIn(t, dir, "", tool, nil,
		"build", "--like", filepath.Join("arm", "navius-minimal-linux-arm64"), "--source", root, "--output", "like", "--", "-buildvcs=false")
	if code != 0 {
		t.Fatalf("build --like an arm64 binary: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, `features read from its build information (tags "custom,memory,`) || !strings.Contains(out, "without running it") ||
		!strings.Contains(out, "target:   linux/arm64, the platform of arm/navius-minimal-linux-arm64 (--target overrides)") {
		t.Errorf("build --like does not say where the features and the platform came from:\n%s", out)
	}
	if got := harness.FileSHA256(t, filepath.Join(dir, "like", "navius-minimal-linux-arm64")); got != harness.FileSHA256(t, filepath.Join(dir, "arm", "navius-minimal-linux-arm64")) {
		t.Error("--like an arm64 build gave another binary than the build it is like")
	}
	code, out, errOut = runIn(t, dir, "", tool, nil,
		"build", "--like", filepath.Join("arm", "navius-minimal-linux-arm64"), "--target", runtime.GOOS+"/"+runtime.GOARCH, "--source", root, "--output", "host")
	if code != 0 {
		t.Fatalf("build --like an arm64 binary --target this machine: exit %d\n%s%s", code, out, errOut)
	}
	if got := reportedFeatures(t, filepath.Join(dir, "host", "navius-minimal-"+runtime.GOOS+"-"+runtime.GOARCH)); !slices.Equal(got, []string{"memory"}) {
		t.Fatalf("--like the arm64 memory build built %v", got)
	}
}

// TestBuilderRace: extra go build flags that link a C runtime (-race)
// build with cgo on, saying so; without a C compiler they are refused up
// front, in one line naming the fix.
func TestBuilderRace(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, []string{"CC=navius-no-such-cc"}, "build", "--features", "memory", "--source", root, "--output", "out", "--", "-race")
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 || !strings.Contains(errOut, "-race needs cgo, and its C compiler navius-no-such-cc (go env CC) is not on PATH: install one (apt-get install -y gcc)") || out != "" {
		t.Fatalf("-race without a C compiler: exit %d, stderr %q, stdout %q; want exit 2 and one line, before anything else", code, errOut, out)
	}

	code, out, errOut = runIn(t, dir, "", tool, nil, "build", "--features", "memory", "--source", root, "--output", "out", "--", "-race")
	if code != 0 {
		t.Fatalf("build -- -race: exit %d\n%s%s", code, out, errOut)
	}
	checkOutput(t, "output", out, "cgo on:   -race needs it; the binary is not static", "command:  CGO_ENABLED=1 go build ", " -race .", "[3/3] done: out/navius-minimal")
	info, err := buildinfo.ReadFile(filepath.Join(dir, "out", "navius-minimal"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["-race"] != "true" || settings["CGO_ENABLED"] != "1" {
		t.Fatalf("the binary's build settings are %v; want -race=true and CGO_ENABLED=1", settings)
	}
}

// onlyBinary is the one navius-* binary the builder wrote into dir.
func onlyBinary(t *testing.T, dir string) string {
	t.Helper()
	bins, _ := filepath.Glob(filepath.Join(dir, "navius-*"))
	if len(bins) != 1 {
		t.Fatalf("binaries in %s: %v, want one", dir, bins)
	}
	return bins[0]
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestBuilderNeverReplacesItself: bin/navius build, with the default
// output, leaves bin/navius the builder it was (the new binary's name carries
// its feature set), and an --output that would put the new binary over the
// running one is refused naming --output. A binary without the builder says
// which feature brings the build command.
func TestBuilderNeverReplacesItself(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := copyTree(t) // the default output is the tree's bin/
	self := filepath.Join(dir, "bin", "navius")
	copyFile(t, tool, self, 0o755)
	before := harness.FileSHA256(t, self)
	code, out, errOut := runIn(t, dir, "", self, nil, "build", "--features", "memory")
	if code != 0 {
		t.Fatalf("bin/navius build --features memory: exit %d\n%s%s", code, out, errOut)
	}
	if harness.FileSHA256(t, self) != before {
		t.Fatal("bin/navius build replaced bin/navius, the tool itself")
	}
	if got := reportedFeatures(t, filepath.Join(dir, "bin", "navius-minimal")); !slices.Equal(got, []string{"memory"}) {
		t.Fatalf("the memory build reports %v", got)
	}
	if code, out, errOut := runIn(t, dir, "", self, nil, "features"); code != 0 || !strings.Contains(out, "[x] builder") {
		t.Fatalf("bin/navius lost its builder: exit %d\n%s%s", code, out, errOut)
	}

	// The defaults are the standard profile: a tool named for it, building
	// them into its own directory, would overwrite itself.
	named := filepath.Join(dir, "tools", "navius-standard")
	copyFile(t, tool, named, 0o755)
	code, _, errOut = runIn(t, dir, "", named, nil, "build", "--output", "tools")
	if code != 2 || !strings.Contains(errOut, "--output tools") || !strings.Contains(errOut, "replace the tool itself") {
		t.Fatalf("building over the running tool: exit %d, stderr %q; want exit 2 naming --output", code, errOut)
	}
	if harness.FileSHA256(t, named) != before {
		t.Fatal("the refused build changed the running tool")
	}

	mem, _ := binary(t, "memory")
	code, _, errOut = run(t, mem, nil, "build", "--features", "memory")
	if code != 2 || !strings.Contains(errOut, `command "build" comes with feature builder`) || !strings.Contains(errOut, "FEATURES=memory,builder") {
		t.Fatalf("build on a binary without the builder: exit %d, stderr %q", code, errOut)
	}
}

// TestLikeAsksOnlyWhenNeeded: when a binary's build information disagrees
// with the source tree's features.json (here a tree whose memory feature
// lists a module the binary lacks), build --like asks a binary that runs
// here for its features, and says so.
func TestLikeAsksOnlyWhenNeeded(t *testing.T) {
	tool, _ := binary(t, "default")
	mem, _ := binary(t, "memory")
	src := t.TempDir()
	data, err := os.ReadFile(filepath.Join(root, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(data), `"github.com/dgraph-io/ristretto/v2",`, `"github.com/dgraph-io/ristretto/v2", "example.com/not-linked",`, 1)
	if changed == string(data) {
		t.Fatal("features.json no longer lists ristretto under memory; update this test")
	}
	os.WriteFile(filepath.Join(src, "features.json"), []byte(changed), 0o644)
	copyFile(t, filepath.Join(root, "go.mod"), filepath.Join(src, "go.mod"), 0o644)
	// The tree holds no Go code, so the build itself fails after --like.
	_, out, errOut := runIn(t, src, "", tool, nil, "build", "--like", mem, "--source", src)
	if !strings.Contains(out, "features read from asking it (--features --json), since its build information disagrees with features.json: feature memory brings module example.com/not-linked") ||
		!strings.Contains(out, "features: memory (from the features of") {
		t.Fatalf("build --like with a disagreeing features.json:\n%s%s", out, errOut)
	}
}

// TestOutsideSourceTree: a builder command that needs the source and
// cannot fetch it (GOPROXY=off; TestNoClone fetches it) names the absolute
// directory it searched from, the version it tried, and how to get this
// binary's source; docs of the binary's own features needs no source.
func TestOutsideSourceTree(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	off := []string{"GOPROXY=off"}
	code, _, errOut := runIn(t, dir, "", tool, off, "build", "--features", "memory")
	if code != 2 || strings.Contains(strings.TrimSpace(errOut), "\n") || !strings.Contains(errOut, "at or above "+dir+", and navius ") ||
		!strings.Contains(errOut, "GOPROXY=off") || !strings.Contains(errOut, "--navius VERSION") ||
		!strings.Contains(errOut, "git clone https://github.com/navius-dev/navius && git -C navius checkout ") {
		t.Errorf("build outside a source tree: exit %d, %q", code, errOut)
	}
	code, out, errOut := runIn(t, dir, "", tool, nil, "docs", "--features", "default", "--output", "site")
	if code != 0 {
		t.Fatalf("docs --features default outside a source tree: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "site", "features", "bolt.md")); err != nil {
		t.Errorf("docs --features default wrote no page for bolt: %v", err)
	}
	if code, _, errOut := runIn(t, dir, "", tool, off, "docs", "--features", "memory"); code != 2 || !strings.Contains(errOut, "no navius source tree") {
		t.Errorf("docs of other features outside a source tree: exit %d, %q", code, errOut)
	}
}
