package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// The two feature sets every run builds: the smallest storage build and the
// defaults.
var featureSets = []string{"memory", "default"}

// exclusionSets are further feature sets whose binaries TestExclusion
// checks: each leaves out or adds a feature whose modules overlap another's.
var exclusionSets = []string{"default,-prometheus", "memory,dynatrace", "memory,pprof", "default,dynatrace,pprof", "default,redis", "memory,redis"}

func TestServeAndFeatures(t *testing.T) {
	for _, spec := range featureSets {
		t.Run(spec, func(t *testing.T) {
			t.Parallel()
			bin, sel := binary(t, spec)

			// --features --json names exactly the selection and its tags.
			code, out, errOut := run(t, bin, nil, "--features", "--json")
			if code != 0 {
				t.Fatalf("--features --json exit %d: %s", code, errOut)
			}
			var rep struct {
				Version   string   `json:"version"`
				BuildTags []string `json:"build_tags"`
				Features  []struct {
					Name    string `json:"name"`
					Modules []struct{ Path, Version string }
				} `json:"features"`
				Consistent bool `json:"consistent"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--features --json: %v\n%s", err, out)
			}
			var names []string
			for _, f := range rep.Features {
				names = append(names, f.Name)
				if m := loadManifest(t).Feature(f.Name); len(m.Modules) > 0 && len(f.Modules) == 0 {
					t.Errorf("feature %s lists no module versions", f.Name)
				}
			}
			if !slices.Equal(names, sel.Features) || !slices.Equal(rep.BuildTags, build.Tags(sel)) || !rep.Consistent {
				t.Fatalf("--features = %v tags %v consistent %v; want %v tags %v", names, rep.BuildTags, rep.Consistent, sel.Features, build.Tags(sel))
			}
			if rep.Version != "v0.0.0-e2e" {
				t.Errorf("stamped version = %q", rep.Version)
			}
			_, text, _ := run(t, bin, nil, "--features")
			for _, n := range sel.Features {
				if !strings.Contains(text, n) {
					t.Errorf("--features text lacks %s:\n%s", n, text)
				}
			}

			p := serve(t, bin, t.TempDir(), nil)
			exercise(t, p)
			status, body := p.Do(t, "GET", "/info", "")
			var info struct {
				Features  []string          `json:"features"`
				Providers map[string]string `json:"providers"`
			}
			if err := json.Unmarshal([]byte(body), &info); status != 200 || err != nil {
				t.Fatalf("/info = %d %s", status, body)
			}
			wantDB := "memory"
			if slices.Contains(sel.Features, "bolt") {
				wantDB = "bolt"
			}
			if !slices.Equal(info.Features, sel.Features) || info.Providers["database"] != wantDB || info.Providers["cache"] != "memory" {
				t.Fatalf("/info = %s", body)
			}
			if err := p.Stop(t); err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Logs())
			}
			if !strings.Contains(p.Logs(), `"msg":"stopped"`) {
				t.Fatalf("no clean stop in the log:\n%s", p.Logs())
			}
		})
	}
}

func exercise(t *testing.T, p *proc) {
	t.Helper()
	check := func(method, path, body string, want int) string {
		t.Helper()
		status, got := p.Do(t, method, path, body)
		if status != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, status, got, want)
		}
		return got
	}
	check("PUT", "/api/v1/pets/tom", `{"kind":"cat"}`, 204)
	check("PUT", "/api/v1/pets/rex", `{"kind":"dog"}`, 204)
	if got := check("GET", "/api/v1/pets/tom", "", 200); got != `{"kind":"cat"}` {
		t.Fatalf("GET = %q", got)
	}
	check("PUT", "/api/v1/pets/tom", `{"kind":"lion"}`, 204)
	if got := check("GET", "/api/v1/pets/tom", "", 200); got != `{"kind":"lion"}` {
		t.Fatalf("GET after overwrite = %q", got)
	}
	if got := check("GET", "/api/v1/pets?filter=dog", "", 200); !strings.Contains(got, `"key":"rex"`) || strings.Contains(got, "tom") {
		t.Fatalf("query = %s", got)
	}
	check("DELETE", "/api/v1/pets/rex", "", 204)
	check("GET", "/api/v1/pets/rex", "", 404)
	check("PUT", "/api/v1/bad%20name/k", "v", 400)
	if got := check("GET", "/health", "", 200); !strings.Contains(got, `"status":"UP"`) || !strings.Contains(got, `"database"`) {
		t.Fatalf("/health = %s", got)
	}
	check("GET", "/readyz", "", 200)
	check("GET", "/livez", "", 200)
}

// TestExclusion checks every build's modules against features.json: the
// modules of each unselected feature are absent (go version -m), and those of
// each selected feature are present, so the check itself can fail.
//
// No build links a provider module from outside the tree (examples/,
// testdata/modules/): only navius build --with brings one in
// (TestBuildWithModule checks that it does).
func TestExclusion(t *testing.T) {
	m := loadManifest(t)
	outside := outsideModules(t)
	for _, spec := range append(slices.Clone(featureSets), exclusionSets...) {
		t.Run(spec, func(t *testing.T) {
			bin, sel := binary(t, spec)
			checkModules(t, m, bin, sel)
			linked := linkedModules(t, bin)
			for _, mod := range outside {
				if linked[mod] {
					t.Errorf("a build of %s links %s, a module only --with brings in", spec, mod)
				}
			}
		})
	}
}

// outsideModules are the module paths of the provider modules kept in the
// tree but outside navius's module (examples/, testdata/modules/).
func outsideModules(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*", "go.mod"))
	more, _ := filepath.Glob(filepath.Join(root, "testdata", "modules", "*", "go.mod"))
	var paths []string
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if p := thirdparty.ModulePath(data); p != "" {
			paths = append(paths, p)
		}
	}
	if !slices.Contains(paths, "example.com/navius-fsdb") {
		t.Fatalf("found the modules %v, not examples/fsdb's", paths)
	}
	return paths
}

// linkedModules lists the modules go version -m reports for bin.
func linkedModules(t *testing.T, bin string) map[string]bool {
	t.Helper()
	linked := map[string]bool{}
	for path := range linkedVersions(t, bin) {
		linked[path] = true
	}
	return linked
}

// linkedVersions are the modules go version -m reports for bin, with the
// version each dep line gives (a replacement by another module adds that
// module at its version).
func linkedVersions(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	linked := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		// A replacement by a directory (--with MODULE=DIR) is no module.
		if len(f) >= 3 && (f[0] == "dep" || f[0] == "=>" && !filepath.IsAbs(f[1]) && !strings.HasPrefix(f[1], ".")) {
			linked[f[1]] = f[2]
		}
	}
	return linked
}

// checkModules holds bin's modules to features.json for its selection.
func checkModules(t *testing.T, m *manifest.Manifest, bin string, sel manifest.Selection) {
	t.Helper()
	linked := linkedModules(t, bin)
	// A module that several features bring (protobuf, xxhash) must be
	// linked when any of them is selected.
	wanted := map[string]bool{}
	for _, n := range sel.Features {
		for _, mod := range m.Feature(n).Modules {
			wanted[mod] = true
		}
	}
	for _, f := range m.Features {
		selected := slices.Contains(sel.Features, f.Name)
		for _, mod := range f.Modules {
			if linked[mod] != wanted[mod] {
				t.Errorf("feature %s (selected: %v): module %s linked: %v", f.Name, selected, mod, linked[mod])
			}
		}
	}
	accounted := map[string]bool{}
	for _, mod := range m.Core.Modules {
		accounted[mod] = true
		if !linked[mod] {
			t.Errorf("core module %s is not in the binary; features.json is out of date", mod)
		}
	}
	for mod := range wanted {
		accounted[mod] = true
	}
	for mod := range linked {
		if !accounted[mod] {
			t.Errorf("module %s is in the binary but features.json lists it under neither the core nor a selected feature", mod)
		}
	}
}

// TestEveryFeatureExcluded is the proof of exclusion, driven by
// features.json so that a new feature is covered without touching the test:
// for each feature F, a build of every feature except F (and those that
// require F) links none of F's modules (go version -m), compiles none of its
// packages (go list -deps with the same tags), and reports exactly its
// stamped features from inside (--features --json).
func TestEveryFeatureExcluded(t *testing.T) {
	m := loadManifest(t)
	for _, f := range m.Features {
		t.Run("without-"+f.Name, func(t *testing.T) {
			var keep []string
			for _, n := range m.Names() {
				if n != f.Name && !slices.Contains(m.Closure([]string{n}), f.Name) {
					keep = append(keep, n)
				}
			}
			bin, sel := binary(t, "none,"+strings.Join(keep, ","))
			checkModules(t, m, bin, sel)

			// F's own packages: its provider package, and every package of
			// a module that only F (among the selection) brings.
			own := []string{"github.com/navius-dev/navius/providers/" + f.Name + "/"}
			for _, mod := range f.Modules {
				shared := slices.ContainsFunc(sel.Features, func(n string) bool { return slices.Contains(m.Feature(n).Modules, mod) })
				if !shared {
					own = append(own, mod+"/")
				}
			}
			tags := strings.Join(build.Tags(sel), ",")
			cmd := exec.Command("go", "list", "-deps", "-tags", tags, ".")
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps: %v\n%s", err, out)
			}
			pkgs := strings.Fields(string(out))
			if len(pkgs) < 50 {
				t.Fatalf("go list -deps listed only %d packages", len(pkgs))
			}
			for _, p := range pkgs {
				for _, prefix := range own {
					if strings.HasPrefix(p+"/", prefix) {
						t.Errorf("package %s of feature %s is compiled into a build without it (tags %s)", p, f.Name, tags)
					}
				}
			}

			code, stdout, stderr := run(t, bin, nil, "--features", "--json")
			if code != 0 {
				t.Fatalf("--features --json: exit %d %s", code, stderr)
			}
			var rep struct {
				BuildTags []string `json:"build_tags"`
				Features  []struct {
					Name string `json:"name"`
				} `json:"features"`
				Consistent bool `json:"consistent"`
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, cf := range rep.Features {
				names = append(names, cf.Name)
			}
			if !rep.Consistent || !slices.Equal(names, sel.Features) || !slices.Equal(rep.BuildTags, build.Tags(sel)) {
				t.Fatalf("binary reports %v (tags %v, consistent %v); built with %v", names, rep.BuildTags, rep.Consistent, sel.Features)
			}
		})
	}
}

func TestMissingProviderAndUsageErrors(t *testing.T) {
	bin, _ := binary(t, "memory")
	cases := []struct {
		env   []string
		args  []string
		code  int
		wants []string
	}{
		{[]string{"NAVIUS_DATABASE_URL=bolt://./x.db"}, []string{"serve"}, 2,
			[]string{`database: no provider for scheme "bolt" (compiled in: memory); rebuild with FEATURES=memory,bolt`}},
		{nil, []string{"serve", "--database-url", "mysql://db"}, 2,
			[]string{`no provider for scheme "mysql"`, "no navius feature provides it"}},
		{[]string{"NAVIUS_BOLT_BATCH=false"}, []string{"serve", "--set", "bolt.batch=false"}, 2,
			[]string{`key "bolt.batch" belongs to feature bolt, which is not compiled into this binary`}},
		{nil, []string{"serv"}, 2, []string{`unknown command "serv" (did you mean "serve"?)`}},
		{nil, []string{"serve", "--no-such-flag"}, 2, []string{"flag provided but not defined: -no-such-flag"}},
		{nil, []string{"serve", "--log-level", "loud"}, 2, []string{"flag --log-level: log.level", "not one of"}},
		{nil, []string{"serve", "--set", "nonsense"}, 2, []string{"use --set key=value"}},
		{nil, []string{"serve", "--config", "/no/such.yaml"}, 2, []string{"/no/such.yaml does not exist"}},
		{nil, []string{"--json"}, 2, []string{"--json goes with --features"}},
	}
	for _, c := range cases {
		code, _, stderr := run(t, bin, c.env, c.args...)
		checkExit(t, fmt.Sprintf("navius %v", c.args), code, stderr, c.code, c.wants)
	}
}

// TestRebuildHints: every hint to rebuild names the binary's own features
// plus the missing one, never fewer (nor the defaults it does not carry).
func TestRebuildHints(t *testing.T) {
	bin, _ := binary(t, "memory,pprof")
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"config", "check", "--set", "redis.db=1"}},
		{[]string{"NAVIUS_DATABASE_URL=redis://db:6379/0"}, []string{"config", "check"}},
		{[]string{"NAVIUS_CACHE_URL=redis://db:6379/0"}, []string{"serve"}},
		{[]string{"NAVIUS_REDIS_DB=1"}, []string{"config", "check"}}, // a warning: the environment is shared
	} {
		_, _, stderr := run(t, bin, c.env, c.args...)
		if !strings.Contains(stderr, "rebuild with FEATURES=memory,pprof,redis") {
			t.Errorf("navius %v with %v: %q; want the hint FEATURES=memory,pprof,redis", c.args, c.env, stderr)
		}
	}
}

// TestBoltPersistsAcrossRestart writes through the default build, stops it
// with SIGTERM, starts it again on the same directory and reads back.
func TestBoltPersistsAcrossRestart(t *testing.T) {
	bin, _ := binary(t, "default")
	dir := t.TempDir()
	p := serve(t, bin, dir, nil)
	for i := range 20 {
		if status, body := p.Do(t, "PUT", fmt.Sprintf("/api/v1/keep/k%d", i), fmt.Sprint(i)); status != 204 {
			t.Fatalf("PUT = %d %s", status, body)
		}
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
	p = serve(t, bin, dir, nil)
	for i := range 20 {
		if status, body := p.Do(t, "GET", fmt.Sprintf("/api/v1/keep/k%d", i), ""); status != 200 || body != fmt.Sprint(i) {
			t.Fatalf("after restart k%d = %d %q", i, status, body)
		}
	}
	// A second instance on the same file fails clearly instead of hanging.
	code, _, stderr := run(t, bin, []string{"NAVIUS_DATABASE_URL=bolt://" + dir + "/data/navius.db", "NAVIUS_BOLT_LOCK_TIMEOUT=200ms", "NAVIUS_LISTEN=127.0.0.1:0"}, "serve")
	if code != 1 || !strings.Contains(stderr, "locked by another process") {
		t.Fatalf("second instance: exit %d, %s", code, stderr)
	}
}

// TestConfigCheckMatchesServe runs configurations that a real binary with
// every feature refuses before it opens anything through both serve and
// config check: each command exits 2 with the same one-line problems, and
// config check lists all of them in one run.
func TestConfigCheckMatchesServe(t *testing.T) {
	bin, _ := binary(t, "all")
	base := []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN="}
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"NAVIUS_AUTH_TOKENS=writer:abc"}, nil, `auth.tokens entry 1: unknown scope "writer"`},
		{[]string{"NAVIUS_AUTH_TOKENS=abc"}, nil, "auth.tokens entry 1 is not scope[+scope]:value"},
		{[]string{"NAVIUS_DATABASE_URL=mysql://db"}, nil, `database: no provider for scheme "mysql"`},
		{nil, []string{"--set", "cache.url=mysql://db"}, `cache: no provider for scheme "mysql"`},
		{nil, []string{"--set", "listen=localhost"}, `listen: "localhost" is not host:port`},
		{nil, []string{"--pprof-listen", "6060"}, `pprof.listen: "6060" is not host:port`},
		{nil, []string{"--set", "bolt.lock_timeout=0"}, "bolt.lock_timeout: \"0\" would wait forever"},
		{nil, []string{"--set", "prometheus.path=metrics"}, `prometheus.path "metrics" is not a plain URL path`},
		{[]string{"NAVIUS_SPLUNK_ENDPOINT=https://splunk.example.com:8088"}, nil, "splunk.token is empty"},
		{[]string{"NAVIUS_DYNATRACE_ENDPOINT=http://dt.example.com", "NAVIUS_DYNATRACE_TOKEN=dt0c01.x"}, nil, "use https://"},
	}
	var allEnv, allArgs []string
	for _, c := range cases {
		bothRefuse(t, bin, append(slices.Clone(base), c.env...), c.args, c.want)
		allEnv, allArgs = append(allEnv, c.env...), append(allArgs, c.args...)
	}
	// One run of config check lists every problem, one per line. (Two of
	// the cases set NAVIUS_AUTH_TOKENS; the second wins. bolt.lock_timeout
	// is bolt's to check, and the database is mysql:// here, not bolt.)
	code, out, stderr := run(t, bin, append(slices.Clone(base), allEnv...), append([]string{"config", "check"}, allArgs...)...)
	if n := strings.Count(stderr, "navius: config: "); code != 2 || n != len(cases)-2 || strings.Contains(out, "config OK") {
		t.Errorf("config check with every problem: exit %d, %d problems listed, want %d:\n%s", code, n, len(cases)-2, stderr)
	}
	if code, out, stderr := run(t, bin, base, "config", "check"); code != 0 || !strings.Contains(out, "config OK") {
		t.Errorf("config check of the defaults: exit %d\n%s%s", code, out, stderr)
	}
}

// serveRefused runs bin serve and expects it to exit: a configuration it
// accepted would leave it serving, which fails the test instead of hanging it.
func serveRefused(t *testing.T, bin string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("serve %v %v accepted the configuration and served:\n%s", env, args, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("serve %v %v: %v", env, args, err)
	}
	return ee.ExitCode(), stderr.String()
}

// TestMetricsFromTheFirstScrape: the cache hit and miss counters are in
// the first scrape, at zero, and the health check's own cache lookups count
// neither there nor in /health's hit ratio.
func TestMetricsFromTheFirstScrape(t *testing.T) {
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_HEALTH_CACHE_TTL=1ms"})
	status, body := p.Do(t, "GET", "/metrics", "")
	for _, want := range []string{`navius_cache_hits_total{provider="memory"} 0`, `navius_cache_misses_total{provider="memory"} 0`} {
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("first scrape (%d) lacks %s", status, want)
		}
	}
	p.Do(t, "PUT", "/api/v1/c/k", "v")
	p.Do(t, "GET", "/api/v1/c/k", "") // a miss, then cached
	p.Do(t, "GET", "/api/v1/c/k", "") // a hit
	for range 3 {
		time.Sleep(5 * time.Millisecond) // past health.cache_ttl: the probe runs again
		p.Do(t, "GET", "/health", "")
	}
	_, body = p.Do(t, "GET", "/metrics", "")
	if !strings.Contains(body, `navius_cache_hits_total{provider="memory"} 1`) || !strings.Contains(body, `navius_cache_misses_total{provider="memory"} 1`) {
		t.Errorf("cache counters after one miss and one hit:\n%s", body)
	}
	_, body = p.Do(t, "GET", "/health", "")
	var h struct {
		Components map[string]struct {
			Details map[string]any `json:"details"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || h.Components["cache"].Details["hit_ratio"] != 0.5 {
		t.Errorf("/health's cache hit ratio after one miss and one hit, with the probe run several times: %s", body)
	}
	_ = p.Stop(t)
}

// TestListenInUse: a port another process holds is named with the listen
// option, where its value came from and the way out.
func TestListenInUse(t *testing.T) {
	bin, _ := binary(t, "memory")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, stderr := serveRefused(t, bin, nil, "--listen", ln.Addr().String())
	for _, want := range []string{"listen " + ln.Addr().String() + " (flag --listen)", "address already in use", "pick another address with --listen or NAVIUS_LISTEN"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("serve on a port in use: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}
