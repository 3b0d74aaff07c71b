package builder

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/tartest"
)

// chain has c -> b -> a requirements, to exercise refusals.
const chain = `{"schema":1,"core":{"description":"core","modules":[],"size_impact":null},"features":[
 {"name":"a","description":"A","category":"x","default":true,"requires":[],"modules":[],"provides":[],"size_impact":null},
 {"name":"b","description":"B","category":"x","default":false,"requires":["a"],"modules":[],"provides":[],"size_impact":null},
 {"name":"c","description":"C","category":"y","default":false,"requires":["b"],"modules":[],"provides":[],"size_impact":1024},
 {"name":"d","description":"D","category":"y","default":true,"requires":[],"modules":[],"provides":[],"size_impact":null}]}`

// walk parses the manifest doc and runs the interactive walk on answers:
// the selection, what the walk wrote, and the manifest for more walks.
func walk(t *testing.T, doc, answers string) (manifest.Selection, string, *manifest.Manifest) {
	t.Helper()
	m, err := manifest.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sel, err := interactive(bufio.NewScanner(strings.NewReader(answers)), &out, m)
	if err != nil {
		t.Fatalf("%q: %v\n%s", answers, err, out.String())
	}
	return sel, out.String(), m
}

func TestInteractive(t *testing.T) {
	sel, text, m := walk(t, chain, "c\n-b\nzz\n-d list\n-c -b\ndone\n")
	if got := strings.Join(sel.Features, ","); got != "a" {
		t.Fatalf("selection = %q, want a\n%s", got, text)
	}
	for _, want := range []string{
		"[x] a", // the defaults are shown first
		"[x] c (and b, which it requires)",
		"! cannot deselect b: required by c",
		`! unknown feature "zz"`,
		"[ ] d",
		"[ ] c", "[ ] b",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// The end of input finishes like "done"; "quit" cancels.
	if sel, err := interactive(bufio.NewScanner(strings.NewReader("c\n")), io.Discard, m); err != nil || strings.Join(sel.Features, ",") != "a,b,c,d" {
		t.Fatalf("EOF: %v %v", sel.Features, err)
	}
	// "quit" asks first: "n" goes on (here to the end of input, which
	// builds), "y" or the end of input cancels, which is no failure.
	if sel, err := interactive(bufio.NewScanner(strings.NewReader("c\nquit\nn\n")), io.Discard, m); err != nil || strings.Join(sel.Features, ",") != "a,b,c,d" {
		t.Fatalf("quit, n: %v %v", sel.Features, err)
	}
	for _, answers := range []string{"c\nquit\ny\n", "quit\n", "c quit\nyes\n"} {
		var out bytes.Buffer
		_, err := interactive(bufio.NewScanner(strings.NewReader(answers)), &out, m)
		if !errors.Is(err, errCancelled) || !strings.Contains(out.String(), "quit without building? (y/N)") {
			t.Fatalf("%q: %v\n%s", answers, err, out.String())
		}
	}
}

// TestInteractiveWalk follows the walk through the categories: only an
// empty answer goes on, "back" returns, a toggle or a refused name keeps the
// category, and the review at the end builds on an empty answer.
func TestInteractiveWalk(t *testing.T) {
	sel, text, _ := walk(t, chain, "\nback\nc\n-b\nzz, -d\n\n\n\n")
	if got := strings.Join(sel.Features, ","); got != "a,b,c" {
		t.Fatalf("selection = %q, want a,b,c\n%s", got, text)
	}
	// The screens in order: x, y (empty answer), x (back), then x stays
	// through a toggle, a refusal and a toggle with a refusal, y and the
	// review after an empty answer each.
	var screens []string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "[x] (1 of 2)"):
			screens = append(screens, "x")
		case strings.HasPrefix(line, "[y] (2 of 2)"):
			screens = append(screens, "y")
		case strings.HasPrefix(line, "Your selection:"):
			screens = append(screens, "review")
		}
	}
	if got := strings.Join(screens, " "); got != "x y x y review" {
		t.Errorf("screens %q, want %q\n%s", got, "x y x y review", text)
	}
	if x, y := strings.Count(text, "x> "), strings.Count(text, "y> "); x != 5 || y != 2 {
		t.Errorf("prompts x %d, y %d; want 5 and 2 (a toggle stays at its category)\n%s", x, y, text)
	}
	for _, want := range []string{"[x] c (and b, which it requires)", "! cannot deselect b: required by c", `! unknown feature "zz"`, "[ ] d"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

// stores has two database providers in one category and a tool in another.
const stores = `{"schema":1,"core":{"description":"core","modules":[],"size_impact":null},"features":[
 {"name":"mem","description":"M","category":"storage","default":true,"requires":[],"modules":[],"provides":["database:mem"],"size_impact":null},
 {"name":"disk","description":"D","category":"storage","default":true,"requires":[],"modules":[],"provides":["database:disk"],"size_impact":null},
 {"name":"tool","description":"T","category":"tooling","default":true,"requires":[],"modules":[],"provides":["tooling:tool"],"size_impact":null}]}`

// TestInteractiveNoDatabase: deselecting every database provider is said at
// the review, an empty answer there does not build it, and "done" builds a
// tool-only binary with a warning.
func TestInteractiveNoDatabase(t *testing.T) {
	sel, text, _ := walk(t, stores, "-mem -disk\n\n\n\n\ndone\n")
	if got := strings.Join(sel.Features, ","); got != "tool" {
		t.Fatalf("selection %q, want tool\n%s", got, text)
	}
	for _, want := range []string{
		"[ ] mem", "[ ] disk", // each toggle is echoed
		"! nothing selected provides a database (disk, mem would)",
		"! not built: nothing selected provides a database",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "! not built:"); n != 2 {
		t.Errorf("the review refused %d empty answers, want 2\n%s", n, text)
	}
}

// TestZipReproducible: the Windows package's zip is as reproducible as the
// tar.gz: sorted entries, fixed times, the binary executable.
func TestZipReproducible(t *testing.T) {
	files := func() []archiveFile {
		return []archiveFile{{name: "z", mode: 0o644, data: []byte("z")}, {name: "navius.exe", mode: 0o755, data: []byte("bin")}, {name: "a", mode: 0o644, data: []byte("a")}}
	}
	when := time.Unix(1700000000, 0).UTC()
	one, err := zipArchive("pkg", files(), when)
	if err != nil {
		t.Fatal(err)
	}
	if two, _ := zipArchive("pkg", files(), when); !bytes.Equal(one, two) {
		t.Fatal("equal inputs gave different zips")
	}
	zr, err := zip.NewReader(bytes.NewReader(one), int64(len(one)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if !f.Modified.Equal(when) {
			t.Errorf("%s dated %v", f.Name, f.Modified)
		}
		if f.Name == "pkg/navius.exe" && f.Mode().Perm() != 0o755 {
			t.Errorf("navius.exe has mode %v", f.Mode())
		}
	}
	if got := strings.Join(names, " "); got != "pkg/ pkg/a pkg/navius.exe pkg/z" {
		t.Fatalf("entries %q", got)
	}
}

func TestTarGzReproducible(t *testing.T) {
	files := func() []archiveFile {
		return []archiveFile{{name: "z", mode: 0o644, data: []byte("z")}, {name: "navius", mode: 0o755, data: []byte("bin")}, {name: "a", mode: 0o644, data: []byte("a")}}
	}
	when := time.Unix(1700000000, 0)
	one, err := tarGz("pkg", files(), when)
	if err != nil {
		t.Fatal(err)
	}
	two, _ := tarGz("pkg", files(), when)
	if !bytes.Equal(one, two) {
		t.Fatal("equal inputs gave different archives")
	}
	gz, err := gzip.NewReader(bytes.NewReader(one))
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Fatalf("gzip header carries name %q time %v", gz.Name, gz.ModTime)
	}
	var names []string
	tartest.Each(t, gz, func(h *tar.Header, _ []byte) {
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(when) {
			t.Fatalf("entry %s: owner %d:%d %q time %v", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		names = append(names, h.Name)
	})
	if got := strings.Join(names, " "); got != "pkg/ pkg/a pkg/navius pkg/z" {
		t.Fatalf("entries %q", got)
	}
}

func TestRenderDocs(t *testing.T) {
	m, _ := manifest.Parse([]byte(chain))
	f := facts{
		Report: cli.FeatureReport{Version: "v1.2.3", Features: []cli.CompiledFeature{{Name: "a"}, {Name: "c"}}},
		Options: []cli.OptionRow{
			{Key: "listen", Type: "string", Default: "127.0.0.1:8080", Feature: "core", Env: "NAVIUS_LISTEN"},
			{Key: "c.token", Type: "string", Secret: true, Feature: "c", Env: "NAVIUS_C_TOKEN"},
			{Key: "c.level", Type: "enum", Enum: []string{"x", "y"}, Default: "x", Feature: "c"},
		},
	}
	pages := renderDocs(m, f)
	for _, want := range []string{"index.md", "features/a.md", "features/c.md", "config.md", "api.md", "openapi.json"} {
		if pages[want] == "" {
			t.Errorf("no page %s", want)
		}
	}
	var doc struct {
		OpenAPI string
		Info    struct{ Version string }
	}
	if err := json.Unmarshal([]byte(pages["openapi.json"]), &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Info.Version != "v1.2.3" {
		t.Errorf("openapi.json: %v %+v", err, doc)
	}
	if _, ok := pages["features/b.md"]; ok {
		t.Error("a page for a feature the build lacks")
	}
	// A secret has no default: it is said in the type, and "<secret>" is
	// nowhere (it would read as the default's value).
	if !strings.Contains(pages["config.md"], "| `c.token` | string, secret |  |") || strings.Contains(pages["config.md"], "<secret>") || !strings.Contains(pages["config.md"], "enum: x, y") {
		t.Errorf("config reference:\n%s", pages["config.md"])
	}
	if !strings.Contains(pages["features/c.md"], "Size impact: +1 KiB") || !strings.Contains(pages["features/c.md"], "`c.token`") {
		t.Errorf("feature page:\n%s", pages["features/c.md"])
	}
	if strings.Contains(pages["index.md"], "features/d.md") {
		t.Error("the index links a feature the build lacks")
	}
}

func TestCheckExtra(t *testing.T) {
	for _, ok := range [][]string{nil, {"-race"}, {"-gcflags", "all=-N -l", "-v"}, {"-gcflags=-N"}, {"-p", "2"}} {
		if err := checkExtra(ok); err != nil {
			t.Errorf("checkExtra(%q): %v", ok, err)
		}
	}
	for extra, want := range map[string]string{
		"./cmd":          `unexpected argument "./cmd"`,
		"-v -tags x":     "-tags is set by navius build",
		"--tags=x":       "--tags=x is set by navius build",
		"-o out":         "-o is set by navius build",
		"-ldflags=-s":    "-ldflags=-s is set by navius build",
		"-race -ldflags": "-ldflags is set",
	} {
		err := checkExtra(strings.Fields(extra))
		var ue *cli.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) {
			t.Errorf("checkExtra(%q) = %v, want a usage error with %q", extra, err, want)
		}
	}
}

// TestShippedProfiles keeps the profile templates true to features.json:
// each resolves, lists exactly what it resolves to, and standard stays the
// defaults, server the defaults without the builder (what an image
// carries) and enterprise everything (a new feature must join enterprise).
func TestShippedProfiles(t *testing.T) {
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := &tree{dir: "../..", manifest: m}
	names := tr.profileNames()
	for _, want := range shippedProfiles {
		if !slices.Contains(names, want) {
			t.Errorf("profiles/%s.json is missing", want)
		}
	}
	for _, n := range names {
		p, err := tr.loadProfile(n)
		if err != nil {
			t.Errorf("profile %s: %v", n, err)
			continue
		}
		sel, err := m.Resolve("none," + strings.Join(p.Features, ","))
		if err != nil {
			t.Errorf("profile %s does not resolve: %v", n, err)
			continue
		}
		if !slices.Equal(sel.Features, p.Features) {
			t.Errorf("profile %s lists %v but resolves to %v; list the resolved set, sorted", n, p.Features, sel.Features)
		}
		server, _ := m.Resolve("default,-builder")
		want := map[string][]string{"minimal": {"memory"}, "server": server.Features, "standard": m.Defaults(), "enterprise": m.Names()}[n]
		if want != nil && !slices.Equal(sel.Features, want) {
			t.Errorf("profile %s is %v, want %v", n, sel.Features, want)
		}
	}
}

// TestCommandsInManifest keeps features.json's list of the builder's
// commands (which a binary without the builder names in its error) true to
// the commands the builder registers.
func TestCommandsInManifest(t *testing.T) {
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range Commands(&cli.Env{Manifest: m}) {
		if !c.Hidden { // __complete: the completion scripts' own
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	if want := m.Feature("builder").Commands; !slices.Equal(names, want) {
		t.Fatalf("the builder registers %v; features.json lists %v", names, want)
	}
}

func TestArtifactNames(t *testing.T) {
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	tr := &tree{dir: "../..", manifest: m}
	sel := func(spec string) manifest.Selection {
		s, err := m.Resolve(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	memSplunk := tr.label(choice{sel: sel("memory,splunk")})
	for _, c := range []struct{ got, want string }{
		{tr.label(choice{sel: sel("memory")}), "minimal"},   // the profile with these features
		{tr.label(choice{sel: sel("default")}), "standard"}, // likewise
		{tr.label(choice{sel: sel("memory"), profile: "edge"}), "edge"},
		{tr.label(choice{sel: sel("none")}), "core"},
		{featureHash([]string{"splunk", "memory"}), memSplunk}, // stable, whatever the order
		{artifactName("minimal", "linux", "arm64"), "navius-minimal-linux-arm64"},
		{artifactName("minimal", "windows", "amd64"), "navius-minimal-windows-amd64.exe"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if !strings.HasPrefix(memSplunk, "features-") || len(memSplunk) != len("features-")+8 {
		t.Errorf("label of memory,splunk = %q, want features- and 8 hex digits", memSplunk)
	}
	if memSplunk == tr.label(choice{sel: sel("memory,pprof")}) {
		t.Error("two feature sets got the same label")
	}
}

// TestWriteDocsKeepsForeignFiles: regenerating removes the pages the
// earlier run wrote and this one does not, and nothing else: a user's own
// page in the same folders stays.
func TestWriteDocsKeepsForeignFiles(t *testing.T) {
	out := t.TempDir()
	mine := filepath.Join(out, "features", "mine.md")
	notes := filepath.Join(out, "notes.txt")
	os.MkdirAll(filepath.Dir(mine), 0o755)
	os.WriteFile(mine, []byte("my own page"), 0o644)
	os.WriteFile(notes, []byte("notes"), 0o644)
	if err := writeDocs(out, map[string]string{"index.md": "i", "features/a.md": "a", "features/b.md": "b"}); err != nil {
		t.Fatal(err)
	}
	if err := writeDocs(out, map[string]string{"index.md": "i2", "features/a.md": "a2"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{mine: "my own page", notes: "notes", filepath.Join(out, "index.md"): "i2", filepath.Join(out, "features", "a.md"): "a2"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "features", "b.md")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the page of a feature no longer documented is still there: %v", err)
	}
	// A list edited to point outside the directory is not followed.
	outside := filepath.Join(t.TempDir(), "keep.md")
	os.WriteFile(outside, []byte("x"), 0o644)
	rel, _ := filepath.Rel(out, outside)
	os.WriteFile(filepath.Join(out, generatedList), []byte(rel+"\n"), 0o644)
	if err := writeDocs(out, map[string]string{"index.md": "i"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a file outside the output directory was removed: %v", err)
	}
}

// TestCatalogWraps: descriptions wrap at word boundaries to the width, under
// their own column, and lose no word.
func TestCatalogWraps(t *testing.T) {
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	text := catalogLines(m, map[string]bool{"memory": true}, "", 72)
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if n := len([]rune(line)); n > 72 {
			t.Errorf("line of %d runes, over 72: %q", n, line)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(text), " "), m.Feature("redis").Description) {
		t.Errorf("the redis description lost words in wrapping:\n%s", text)
	}
	if got := wrap("one two three", 20); len(got) != 1 {
		t.Errorf("wrap of a short text = %q", got)
	}
	if got := wrap("aaaa bbbb cccc dddd eeee ffff", 20); strings.Join(got, "|") != "aaaa bbbb cccc dddd|eeee ffff" {
		t.Errorf("wrap = %q", got)
	}
}

// TestFromConfigCheckOnlyOnTheHost: --from-config's last step runs the built
// binary's config check on the config when the binary is for this machine;
// for another platform it runs nothing and says, on one line, that the
// check was skipped, why, and how to run it on the target.
func TestFromConfigCheckOnlyOnTheHost(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in binary is a shell script")
	}
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	bin := filepath.Join(dir, "navius")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" > "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := &cli.Env{Environ: os.Environ()}

	var out bytes.Buffer
	if err := checkBuiltConfig(t.Context(), &out, env, bin, "navius.yaml", runtime.GOOS, runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
	if args, err := os.ReadFile(ran); err != nil || strings.TrimSpace(string(args)) != "config check --config navius.yaml" {
		t.Errorf("on the host: the binary ran with %q (%v); want config check --config navius.yaml", args, err)
	}
	if want := "config:   navius.yaml passes the binary's config check\n"; out.String() != want {
		t.Errorf("on the host: %q, want %q", out.String(), want)
	}

	os.Remove(ran)
	out.Reset()
	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	if err := checkBuiltConfig(t.Context(), &out, env, bin, "navius.yaml", "linux", other); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the binary for another platform was run")
	}
	want := "config:   check skipped: the binary is for linux/" + other + ", which cannot run on this " + runtime.GOOS + "/" + runtime.GOARCH +
		" machine; on the target, run navius config check --config navius.yaml with serve's environment\n"
	if out.String() != want {
		t.Errorf("for another platform:\n%q\nwant\n%q", out.String(), want)
	}
}
