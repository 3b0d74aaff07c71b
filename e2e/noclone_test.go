package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/harness"
)

var servingRE = regexp.MustCompile(`serving http://([^/ ]+)/`)

// TestNoClone: a navius installed from a module proxy (go install
// MODULE@VERSION, as a user without a clone gets it) builds from a
// directory outside any checkout by fetching its own version through the
// proxy settings in force: here a file:// proxy holding this tree, before
// the usual proxy for the dependencies. The binary it builds runs, a
// --with module goes in (built in a copy: the module cache may not be
// overlaid), and builder serve builds from the same source. A version the
// proxy lacks, and a development build that has no version to fetch, are
// refused in one line with exit code 2.
func TestNoClone(t *testing.T) {
	proxy, version := naviusProxy(t)
	env := []string{
		"GOPROXY=file://" + filepath.ToSlash(proxy) + "," + goEnv(t, "GOPROXY"),
		"GONOSUMDB=" + strings.Trim(build.Module+","+os.Getenv("GONOSUMDB"), ","),
	}
	before := treeState(t)
	tool := installFromProxy(t, env, version)
	dir := t.TempDir()

	code, out, errOut := runIn(t, dir, "", tool, env, "build", "--features", "memory")
	if code != 0 {
		t.Fatalf("build without a clone: exit %d\n%s%s", code, out, errOut)
	}
	fetched := goModDownload(t, env, version)
	for _, want := range []string{
		"navius source: module cache " + build.Module + "@" + version + " (" + fetched + ")\n",
		"[1/3] compiling navius " + version + " for ",
		"[3/3] done: bin/navius-",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("build without a clone does not say %q:\n%s", want, out)
		}
	}
	bin := onlyBinary(t, filepath.Join(dir, "bin"))
	code, out, errOut = runIn(t, dir, "", bin, nil, "--features")
	if code != 0 || !strings.Contains(out, "memory") {
		t.Fatalf("the binary built from the module cache: --features: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut = runIn(t, dir, "", bin, nil, "--version"); code != 0 || !strings.HasPrefix(out, "navius "+version+" ") {
		t.Errorf("the binary built from the module cache: --version: exit %d, %q %s; want version %s", code, out, errOut, version)
	}
	if rep := featuresOf(t, bin); len(rep.Features) != 1 || rep.Features[0].Name != "memory" {
		t.Errorf("the binary built from the module cache carries %+v, not memory alone", rep.Features)
	}

	// A provider module goes in as it does from a checkout. go may not
	// overlay files in the module cache, so the build works in a copy,
	// which is removed after.
	tmp := t.TempDir()
	code, out, errOut = runIn(t, dir, "", tool, append(env, "TMPDIR="+tmp), "build", "--features", "memory", "--with", fsdbModule+"="+filepath.Join(root, "examples", "fsdb"), "--output", "withfsdb")
	if code != 0 || !strings.Contains(out, "navius source: copied to "+tmp) || !strings.Contains(out, "verify:   fsdb: navius's harness on what "+fsdbModule+" registers") {
		t.Fatalf("build --with without a clone: exit %d\n%s%s", code, out, errOut)
	}
	if rep := featuresOf(t, onlyBinary(t, filepath.Join(dir, "withfsdb"))); len(rep.Features) != 2 || rep.Features[0].Name != "fsdb" {
		t.Errorf("build --with without a clone built %+v, not fsdb and memory", rep.Features)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("build --with without a clone left %s in its TMPDIR", left[0].Name())
	}

	// builder serve builds from the same fetched source: its catalog says
	// it builds, at the version, and GET /download answers a binary.
	cmd := exec.Command(tool, "builder", "serve", "--listen", "127.0.0.1:0", "--cache", filepath.Join(t.TempDir(), "cache"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	srv, err := harness.Start(cmd, 2*time.Minute, func(line string) string {
		if m := servingRE.FindStringSubmatch(line); m != nil {
			return m[1]
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(t)
	if !strings.Contains(srv.Logs(), "(navius source: module cache "+build.Module+"@"+version+" ("+fetched+"); cache ") {
		t.Errorf("builder serve does not say it builds from the module cache:\n%s", srv.Logs())
	}
	var catalog struct {
		Version string `json:"version"`
		Builds  bool   `json:"builds"`
	}
	if code, body := harness.Get(t, srv.URL+"/api/catalog", ""); code != 200 || json.Unmarshal([]byte(body), &catalog) != nil || !catalog.Builds || catalog.Version != version {
		t.Errorf("builder serve's catalog without a clone: %d %.300s", code, body)
	}
	code, body := harness.Get(t, srv.URL+"/download?features=memory", "")
	if code != 200 {
		t.Fatalf("GET /download?features=memory without a clone: %d %.300s\n%s", code, body, srv.Logs())
	}
	downloaded := filepath.Join(t.TempDir(), "navius")
	if err := os.WriteFile(downloaded, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if rep := featuresOf(t, downloaded); len(rep.Features) != 1 || rep.Features[0].Name != "memory" {
		t.Errorf("the binary builder serve built without a clone carries %+v, not memory alone", rep.Features)
	}

	// --navius takes a query go resolves: latest is this proxy's version.
	code, out, errOut = runIn(t, dir, "", tool, env, "build", "--features", "memory", "--navius", "latest", "--output", "latest")
	if code != 0 || !strings.Contains(out, "navius source: module cache "+build.Module+"@"+version+" (") {
		t.Errorf("build --navius latest: exit %d, want navius %s\n%s%s", code, version, out, errOut)
	}

	// A version the proxies do not have: the version, the GOPROXY in
	// force, go's error and the way out, in one line.
	code, out, errOut = runIn(t, dir, "", tool, env, "build", "--features", "memory", "--navius", "v0.0.1-nonexistent")
	line := strings.TrimSpace(errOut)
	if code != 2 || strings.Contains(line, "\n") {
		t.Fatalf("--navius v0.0.1-nonexistent: exit %d, want 2 and one line:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"--navius v0.0.1-nonexistent:", "GOPROXY=file://" + filepath.ToSlash(proxy), "go mod download: " + build.Module + "@v0.0.1-nonexistent", "--source DIR"} {
		if !strings.Contains(line, want) {
			t.Errorf("--navius v0.0.1-nonexistent does not say %q: %s", want, line)
		}
	}

	// A development build has no version a proxy could serve.
	code, out, errOut = runIn(t, dir, "", devBuilder(t), env, "build", "--features", "memory")
	line = strings.TrimSpace(errOut)
	if code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, "development build (version dev)") ||
		!strings.Contains(line, "--source DIR") || !strings.Contains(line, "--navius VERSION") {
		t.Errorf("build by a development build outside a checkout: exit %d, want 2 and one line naming --source and --navius:\n%s%s", code, out, errOut)
	}
	unchanged(t, before, "builds without a clone")
}

// devBuilder is a navius with the default features stamped "dev", without
// VCS information: a development build.
func devBuilder(t *testing.T) string {
	t.Helper()
	sel, err := loadManifest(t).Resolve("default")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "navius")
	plan, err := build.NewPlan(build.Options{Source: root, Selection: sel, Output: out, Version: "dev", ExtraArgs: []string{"-buildvcs=false"}})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if _, err := plan.Run(context.Background(), &log); err != nil {
		t.Fatalf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	return out
}

// installFromProxy installs navius at version from the proxies of env with
// the default features, as go install does for a user, into a temporary
// directory; its build information names the version.
func installFromProxy(t *testing.T, env []string, version string) string {
	t.Helper()
	sel, err := loadManifest(t).Resolve("default")
	if err != nil {
		t.Fatal(err)
	}
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", "-trimpath", "-tags", strings.Join(build.Tags(sel), ","), build.Module+"@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append(env, "GOBIN="+gobin, "CGO_ENABLED=0")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s@%s: %v\n%s", build.Module, version, err, out)
	}
	return filepath.Join(gobin, "navius")
}

// goModDownload is the module cache directory of navius at version.
func goModDownload(t *testing.T, env []string, version string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", build.Module+"@"+version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s@%s: %v\n%s", build.Module, version, err, out)
	}
	var got struct{ Dir string }
	if err := json.Unmarshal(out, &got); err != nil || got.Dir == "" {
		t.Fatalf("go mod download -json: %v\n%s", err, out)
	}
	return got.Dir
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// naviusProxy lays out this tree as the module github.com/navius-dev/navius
// in a GOPROXY directory (proxyDir), following the module zip rules: the files git tracks or would (so no
// build output), without nested modules (directories with their own
// go.mod) or vendor directories. Its version is v0.99.0 with a prerelease
// of this run's own, so that the shared module cache never holds two
// contents for one version; the test removes it from the module cache at
// its end, so that runs do not pile up copies of navius there.
func naviusProxy(t *testing.T) (proxy, version string) {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z")
	cmd.Dir = root
	listed, err := cmd.Output()
	if err != nil {
		t.Skipf("git ls-files in %s: %v (the module zip is made of the files git tracks)", root, err)
	}
	names := strings.Split(strings.TrimRight(string(listed), "\x00"), "\x00")
	var nested []string // directories of nested modules
	for _, n := range names {
		if path.Base(n) == "go.mod" && n != "go.mod" {
			nested = append(nested, path.Dir(n)+"/")
		}
	}
	files := map[string][]byte{}
	for _, n := range names {
		if n == "" || slices.ContainsFunc(nested, func(d string) bool { return strings.HasPrefix(n, d) }) ||
			strings.HasPrefix(n, "vendor/") || strings.Contains(n, "/vendor/") {
			continue
		}
		st, err := os.Lstat(filepath.Join(root, filepath.FromSlash(n)))
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted, or a symbolic link (no module zip holds one)
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(n)))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = data
	}
	version = "v0.99.0-e2e." + strconv.FormatInt(time.Now().UnixNano(), 10)
	t.Cleanup(func() { removeFromModuleCache(t, build.Module, version) })
	return proxyDir(t, build.Module, version, files), version
}

// removeFromModuleCache removes module path at version from the module
// cache (go leaves it read-only), and from the versions the cache lists.
// modPath is lower-case (the cache escapes capitals).
func removeFromModuleCache(t *testing.T, modPath, version string) {
	cache := goEnv(t, "GOMODCACHE")
	dir := filepath.Join(cache, filepath.FromSlash(modPath)+"@"+version)
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		t.Logf("removing %s from the module cache: %v", dir, err)
	}
	at := filepath.Join(cache, "cache", "download", filepath.FromSlash(modPath), "@v")
	for _, ext := range []string{".info", ".mod", ".zip", ".ziphash", ".lock", ".partial"} {
		os.Remove(filepath.Join(at, version+ext))
	}
	if data, err := os.ReadFile(filepath.Join(at, "list")); err == nil {
		kept := slices.DeleteFunc(strings.Split(string(data), "\n"), func(l string) bool { return l == version })
		os.WriteFile(filepath.Join(at, "list"), []byte(strings.Join(kept, "\n")), 0o644)
	}
}
