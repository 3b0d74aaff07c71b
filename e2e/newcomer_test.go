package e2e

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
)

// What a newcomer meets (issue 25): the rough edges, each held to what
// its documentation says, shell completion and the make targets the README
// names.

// TestBuildFromSubdirectory: navius build run anywhere in a tree writes to
// the tree's bin/, as make build does, never ./bin where it runs.
func TestBuildFromSubdirectory(t *testing.T) {
	tool, _ := binary(t, "default")
	src := copyTree(t)
	sub := filepath.Join(src, "internal", "builder")
	code, out, errOut := runIn(t, sub, "", tool, nil, "build", "--features", "memory")
	if code != 0 {
		t.Fatalf("build from %s: exit %d\n%s%s", sub, code, out, errOut)
	}
	if got := reportedFeatures(t, filepath.Join(src, "bin", "navius-minimal")); !slices.Equal(got, []string{"memory"}) {
		t.Fatalf("the tree's bin/navius-minimal reports %v", got)
	}
	if _, err := os.Stat(filepath.Join(sub, "bin")); err == nil {
		t.Fatalf("build wrote %s/bin", sub)
	}
}

// TestShippedProfilesAnywhere: profile list and show work outside a source
// tree with the profiles that ship in the binary, which are the tree's.
func TestShippedProfilesAnywhere(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, nil, "profile", "list")
	if code != 0 {
		t.Fatalf("profile list outside a tree: exit %d\n%s%s", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(root, "profiles", "*.json"))
	if len(files) == 0 {
		t.Fatal("no profiles in the tree")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if !strings.Contains(out, name+" ") || !strings.Contains(out, strings.Join(readProfile(t, name), ",")) {
			t.Errorf("profile list outside a tree lacks %s with %v:\n%s", name, readProfile(t, name), out)
		}
	}
	code, out, errOut = runIn(t, dir, "", tool, nil, "profile", "show", "standard")
	if code != 0 || !strings.Contains(out, "features:    "+strings.Join(readProfile(t, "standard"), ", ")) {
		t.Fatalf("profile show standard outside a tree: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runIn(t, dir, "", tool, nil, "profile", "show", "nosuch"); code != 2 || !strings.Contains(errOut, "this binary's shipped profiles") {
		t.Fatalf("profile show nosuch outside a tree: exit %d %q", code, errOut)
	}
}

// TestProfileSaveSources: profile save takes build's selection sources
// (--like, --from-config, --interactive), and build --interactive offers
// to save what it chose; quit asks, then exits 0 having built nothing.
func TestProfileSaveSources(t *testing.T) {
	tool, _ := binary(t, "default")
	mem, _ := binary(t, "memory")
	src := copyTree(t)
	profile := func(name string) []string {
		t.Helper()
		var p struct{ Features []string }
		data, err := os.ReadFile(filepath.Join(src, "profiles", name+".json"))
		if err != nil || json.Unmarshal(data, &p) != nil {
			t.Fatalf("profiles/%s.json: %v %s", name, err, data)
		}
		return p.Features
	}
	os.WriteFile(filepath.Join(src, "navius.yaml"), []byte("database:\n  url: memory://\nsplunk.endpoint: https://hec.example.com:8088\n"), 0o644)
	defaults, _ := loadManifest(t).Resolve("default")
	for _, c := range []struct {
		name, stdin string
		args        []string
		want        []string
	}{
		{"like", "", []string{"--like", mem}, []string{"memory"}},
		{"config", "", []string{"--from-config", "navius.yaml"}, []string{"memory", "splunk"}},
		{"walk", "-bolt -builder -prometheus pprof done\n", []string{"--interactive"}, []string{"memory", "pprof"}},
		{"walked", "", []string{"--interactive"}, defaults.Features}, // the end of input takes the selection as it is
	} {
		code, out, errOut := runIn(t, src, c.stdin, tool, nil, append([]string{"profile", "save", c.name}, c.args...)...)
		if code != 0 {
			t.Fatalf("profile save %s %v: exit %d\n%s%s", c.name, c.args, code, out, errOut)
		}
		if got := profile(c.name); !slices.Equal(got, c.want) {
			t.Errorf("profile save %s %v saved %v, want %v", c.name, c.args, got, c.want)
		}
	}

	// quit asks first; confirmed, it exits 0 and builds nothing.
	code, out, errOut := runIn(t, src, "quit\ny\n", tool, nil, "build", "--interactive")
	if code != 0 || !strings.Contains(out, "quit without building? (y/N)") || !strings.Contains(out, "cancelled; nothing was built") {
		t.Fatalf("build --interactive, quit, y: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(src, "bin")); err == nil {
		t.Fatal("a cancelled walk built something")
	}
	// After the walk, a name saves the selection and names the build.
	code, out, errOut = runIn(t, src, "-bolt -builder -prometheus done\nBad Name\nedge\n", tool, nil, "build", "--interactive")
	if code != 0 {
		t.Fatalf("build --interactive with a profile name: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "save this selection as a profile? NAME, or Enter to skip>") || !strings.Contains(out, `! profile name "Bad Name" is invalid`) || !strings.Contains(out, "saved profile edge: memory") {
		t.Errorf("the walk's offer to save:\n%s", out)
	}
	if got := profile("edge"); !slices.Equal(got, []string{"memory"}) {
		t.Errorf("the walk saved %v", got)
	}
	if got := reportedFeatures(t, filepath.Join(src, "bin", "navius-edge")); !slices.Equal(got, []string{"memory"}) {
		t.Errorf("the build named after the saved profile reports %v", got)
	}
}

// TestWithRecordedRelative: a --with module's directory is recorded
// relative to the tree, so two checkouts at different paths give the same
// binary, byte for byte, and neither holds its absolute path.
func TestWithRecordedRelative(t *testing.T) {
	tool, _ := binary(t, "default")
	var bins []string
	var trees []string
	for _, dst := range []string{t.TempDir(), filepath.Join(t.TempDir(), "deeper", "checkout")} {
		src := copyTreeTo(t, dst)
		code, out, errOut := runIn(t, src, "", tool, nil, "build", "--features", "memory",
			"--with", fsdbModule+"=./examples/fsdb", "--no-verify", "--output", "out")
		if code != 0 {
			t.Fatalf("build --with in %s: exit %d\n%s%s", src, code, out, errOut)
		}
		bins, trees = append(bins, onlyBinary(t, filepath.Join(src, "out"))), append(trees, src)
	}
	a, _ := os.ReadFile(bins[0])
	b, _ := os.ReadFile(bins[1])
	if !bytes.Equal(a, b) {
		t.Errorf("the same build from %s and %s differs", trees[0], trees[1])
	}
	for i, bin := range bins {
		data, _ := os.ReadFile(bin)
		if bytes.Contains(data, []byte(trees[i])) {
			t.Errorf("%s holds the absolute path of its checkout %s", bin, trees[i])
		}
		if out := execOut(t, "", nil, "go", "version", "-m", bin); !strings.Contains(out, "=>\t./examples/fsdb\t(devel)") {
			t.Errorf("go version -m %s does not record ./examples/fsdb:\n%s", bin, out)
		}
	}
}

// TestPackageWindowsZip: a Windows package is a zip holding navius.exe.
func TestPackageWindowsZip(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	code, out, errOut := runIn(t, dir, "", tool, []string{"SOURCE_DATE_EPOCH=1700000000"},
		"package", "--features", "memory", "--target", "windows/amd64", "--source", root, "--output", "dist")
	if code != 0 {
		t.Fatalf("package for windows: exit %d\n%s%s", code, out, errOut)
	}
	zips, _ := filepath.Glob(filepath.Join(dir, "dist", "navius-*-minimal-windows-amd64.zip"))
	tgz, _ := filepath.Glob(filepath.Join(dir, "dist", "*.tar.gz"))
	if len(zips) != 1 || len(tgz) != 0 {
		t.Fatalf("package for windows wrote zips %v and tar.gz %v", zips, tgz)
	}
	zr, err := zip.OpenReader(zips[0])
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, filepath.Base(f.Name))
		if f.Modified.Unix() != 1700000000 {
			t.Errorf("%s is dated %v, want SOURCE_DATE_EPOCH", f.Name, f.Modified)
		}
	}
	for _, want := range []string{"navius.exe", "navius.cdx.json", "LICENSE", "README.md", "navius.yaml.sample"} {
		if !slices.Contains(names, want) {
			t.Errorf("the zip lacks %s: %v", want, names)
		}
	}
	if sums, _ := os.ReadFile(filepath.Join(dir, "dist", "SHA256SUMS")); !strings.Contains(string(sums), harness.FileSHA256(t, zips[0])+"  "+filepath.Base(zips[0])) {
		t.Errorf("SHA256SUMS has no line for the zip:\n%s", sums)
	}
}

// TestSBOMOfItselfByPath: navius sbom with its own path says what navius
// sbom without one says, version included.
func TestSBOMOfItselfByPath(t *testing.T) {
	tool, _ := binary(t, "default")
	_, self, _ := run(t, tool, nil, "sbom")
	_, byPath, _ := run(t, tool, nil, "sbom", tool)
	if self == "" || self != byPath || !strings.Contains(byPath, `"version": "v0.0.0-e2e"`) {
		t.Fatalf("navius sbom and navius sbom %s differ, or lack the version:\n%.400s\n---\n%.400s", tool, self, byPath)
	}
}

// TestListenLoggedAsGiven: 0.0.0.0 is logged as given (Go would name the
// listener [::]), with the port it got.
func TestListenLoggedAsGiven(t *testing.T) {
	bin, _ := binary(t, "memory")
	p := serve(t, bin, t.TempDir(), nil, "--listen", "0.0.0.0:0")
	if !strings.HasPrefix(p.URL, "http://0.0.0.0:") || strings.Contains(p.Logs(), "[::]") {
		t.Fatalf("served at %s; logs:\n%s", p.URL, p.Logs())
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestStoppedIsLastLine: with a Splunk HEC slower than
// splunk.shutdown_timeout, the flush reports undelivered entries, and
// "stopped" still comes after it: the console's last line. With a HEC that
// answers, Splunk gets "stopped" too. An http:// endpoint on another host
// takes the token only with splunk.insecure_http.
func TestStoppedIsLastLine(t *testing.T) {
	bin, _ := binary(t, "memory,prometheus,splunk")
	var mu sync.Mutex
	var messages []string
	var delay time.Duration
	hec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		dec := json.NewDecoder(body)
		for {
			var ev struct {
				Event struct{ Message string } `json:"event"`
			}
			if dec.Decode(&ev) != nil {
				break
			}
			mu.Lock()
			messages = append(messages, ev.Event.Message)
			mu.Unlock()
		}
		mu.Lock()
		d := delay
		mu.Unlock()
		time.Sleep(d)
		_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer hec.Close()
	env := []string{"NAVIUS_SPLUNK_ENDPOINT=" + hec.URL, "NAVIUS_SPLUNK_TOKEN=hec-token-0123456789"}
	remote := []string{"NAVIUS_SPLUNK_ENDPOINT=http://hec.example.com:8088", "NAVIUS_SPLUNK_TOKEN=hec-token-0123456789"}
	if code, _, errOut := run(t, bin, remote, "config", "check"); code != 2 || !strings.Contains(errOut, "splunk.endpoint http://hec.example.com:8088 is http://") || strings.Contains(errOut, "hec-token") {
		t.Fatalf("config check with an http:// endpoint on another host and a token: exit %d %q", code, errOut)
	}
	if code, _, errOut := run(t, bin, append(remote, "NAVIUS_SPLUNK_INSECURE_HTTP=true"), "config", "check"); code != 0 {
		t.Fatalf("config check with splunk.insecure_http: exit %d %q", code, errOut)
	}
	for _, slow := range []bool{true, false} {
		mu.Lock()
		delay, messages = 0, nil
		if slow {
			delay = 2 * time.Second
		}
		mu.Unlock()
		p := serve(t, bin, t.TempDir(), append(env, "NAVIUS_SPLUNK_SHUTDOWN_TIMEOUT=1s", "NAVIUS_SPLUNK_FLUSH_INTERVAL=1h"))
		for range 20 {
			p.Do(t, "GET", "/api/v1/c/k", "")
		}
		if err := p.Stop(t); err != nil {
			t.Fatal(err)
		}
		logs := strings.TrimSpace(p.Logs())
		lines := strings.Split(logs, "\n")
		if !strings.Contains(lines[len(lines)-1], `"msg":"stopped"`) || strings.Count(logs, `"msg":"stopped"`) != 1 {
			t.Fatalf("slow HEC %v: the last line is not the one stopped:\n%s", slow, strings.Join(lines[max(0, len(lines)-5):], "\n"))
		}
		mu.Lock()
		got := slices.Contains(messages, "stopped")
		mu.Unlock()
		if slow && !strings.Contains(logs, "undelivered") {
			t.Errorf("a HEC slower than the shutdown timeout: no word of undelivered entries:\n%s", logs)
		}
		if !slow && !got {
			t.Errorf("Splunk did not get stopped (%d events)", len(messages))
		}
	}
}

// TestMakeTargets: make run takes the listen address (LISTEN=) and serve
// flags (ARGS=), and make dev-KIND runs scripts/dev-backend.sh KIND, as the
// README says (make -n: nothing is built or run).
func TestMakeTargets(t *testing.T) {
	for args, want := range map[string]string{
		"run LISTEN=127.0.0.1:9090":                    "bin/navius serve --listen 127.0.0.1:9090",
		"run ARGS=--log-format=json":                   "bin/navius serve  --log-format=json",
		"run BIN=bin/x LISTEN=:8081 ARGS=--log-access": "bin/x serve --listen :8081 --log-access",
		"dev-postgres":                                 "./scripts/dev-backend.sh postgres",
		"dev-cluster":                                  "./scripts/dev-backend.sh cluster",
	} {
		out := execOut(t, root, nil, "make", append([]string{"-n"}, strings.Fields(args)...)...)
		if !strings.Contains(out, want) {
			t.Errorf("make -n %s:\n%s\nwant a line with %q", args, out, want)
		}
	}
}

// TestMakeTagsChecksLikeBuild: make tags refuses a selection that make
// build refuses (no database), with the same one-line reason.
func TestMakeTagsChecksLikeBuild(t *testing.T) {
	cmd := exec.Command("make", "-s", "tags", "FEATURES=prometheus")
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil || stdout.Len() != 0 || !strings.Contains(stderr.String(), "FEATURES=prometheus: no selected feature provides a database") {
		t.Fatalf("make tags FEATURES=prometheus: %v, stdout %q, stderr %q; want a refusal naming the missing database and no tags", err, stdout.String(), stderr.String())
	}
	out := execOut(t, root, nil, "make", "-s", "tags", "FEATURES=memory,redis")
	if !strings.Contains(out, "memory,redis") {
		t.Errorf("make tags FEATURES=memory,redis printed %q", out)
	}
}

// TestCompletionScripts loads navius completion bash|zsh|fish into the real
// shells (bash, zsh and fish, which make test installs) and completes
// command lines with a default build as navius on PATH: a command, a
// feature list, an option key and its value, a profile, and make's
// FEATURES= (bash). zsh and bash get their completion functions called as
// the line editor would; fish answers complete -C itself.
func TestCompletionScripts(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	copyFile(t, tool, filepath.Join(dir, "navius"), 0o755)
	env := []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}
	script := func(shell string) string {
		t.Helper()
		code, out, errOut := runIn(t, dir, "", tool, nil, "completion", shell)
		if code != 0 || out == "" {
			t.Fatalf("navius completion %s: exit %d %s", shell, code, errOut)
		}
		path := filepath.Join(dir, "navius."+shell)
		os.WriteFile(path, []byte(out), 0o644)
		return path
	}
	shell := func(name, program string) string {
		t.Helper()
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y %s (make test does)", name, name)
		}
		cmd := exec.Command(name, "-c", program)
		cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	check := func(shell, got, want string) {
		t.Helper()
		if strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s completion:\n%s\nwant:\n%s", shell, got, want)
		}
	}

	// bash splits words at = as its line editor does (COMP_WORDBREAKS).
	check("bash", shell("bash", `source `+script("bash")+`
t() { COMP_LINE="$1"; COMP_POINT=${#1}; COMP_WORDS=("${@:3}"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); $2; echo "${COMPREPLY[*]}"; }
t "navius bu" _navius navius bu
t "navius build --features memory,re" _navius navius build --features memory,re
t "navius build --features=po" _navius navius build --features = po
t "navius serve --set log.fo" _navius navius serve --set log.fo
t "navius serve --set log.format=j" _navius navius serve --set log.format = j
t "navius build --profile mi" _navius navius build --profile mi
t "make build FEATURES=default,pp" _navius_make make build FEATURES = default,pp
`), `build builder
memory,redis
postgres
log.format=
json
minimal
default,pprof`)

	check("zsh", shell("zsh", `compadd() { print -r -- "${@[-1]}"; }
_files() { print files; }
source `+script("zsh")+`
t() { BUFFER=$1; CURSOR=${#BUFFER}; words=(${=1}); _navius; }
t "navius build --features memory,re"
t "navius serve --set log.fo"
t "navius build --profile mi"
t "navius serve --config ./"
`), `memory,redis
log.format=
minimal
files`)

	check("fish", shell("fish", `source `+script("fish")+`
complete -C"navius bu"
complete -C"navius build --features memory,re"
complete -C"navius serve --set log.format="
complete -C"navius profile show st"
`), `build
builder
memory,redis
log.format=json
log.format=text
standard`)

	if code, _, errOut := runIn(t, dir, "", tool, nil, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d %q", code, errOut)
	}
}
