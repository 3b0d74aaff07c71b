package thirdparty

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/internal/thirdparty/modtest"
)

// naviusRoot is the tree under test; every real run verifies against it.
const (
	naviusRoot = "../.."
	exampleDir = "../../examples/fsdb"
	fixtures   = "../../testdata/modules"
)

// verifyModule runs the verification of a module as navius build does:
// in a workspace of the tree with the module added.
func verifyModule(t *testing.T, m *Module) *FeatureResult {
	t.Helper()
	m.Local = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	work, err := NewWorkspace(ctx, naviusRoot, nil, []*Module{m})
	if err != nil {
		t.Fatal(err)
	}
	defer work.Close()
	v, err := Verify(ctx, VerifyOptions{Work: work, Modules: []*Module{m}})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Features) != 1 {
		t.Fatalf("%d feature results", len(v.Features))
	}
	t.Logf("in %v: %s", v.Elapsed, v.Command)
	return v.Features[0]
}

func verify(t *testing.T, dir string) *FeatureResult {
	t.Helper()
	m, err := LoadModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	return verifyModule(t, m)
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test on a module")
	}
	t.Parallel()
}

// snapshot lists a directory's files with their sizes and times, to prove
// that verification writes nothing into the module.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %d %v", path, info.Size(), info.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// The example is verified by navius's harness, which tests what it
// registers for fsdb:// (with the crash case: the feature is durable), and
// its own test passes beside.
func TestVerifyExample(t *testing.T) {
	skipShort(t)
	before := snapshot(t, exampleDir)
	r := verify(t, exampleDir)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if !r.Verified() || r.Harness == nil || r.Own == nil || len(r.Harness.Suites) != 1 {
		t.Fatalf("result = %+v", r)
	}
	s := r.Harness.Suites[0]
	want := conformance.RequiredDatabase(conformance.DatabaseProvider{Storage: true, Durable: true})
	if s.Suite != "database" || s.Test != "TestNaviusHarness/fsdb/database:fsdb/navius.database.v2" || s.Impl != "example.com/navius-fsdb.*DB" ||
		!s.Valid || s.Cases != len(want) || s.Passed != s.Cases {
		t.Fatalf("harness suite run = %+v; want %d cases (%v)", s, len(want), want)
	}
	if !r.Own.Passed || r.Own.Test != "TestConformance" {
		t.Fatalf("own test = %+v", r.Own)
	}
	if after := snapshot(t, exampleDir); after != before {
		t.Fatalf("verification changed the module's directory:\n%s\n---\n%s", before, after)
	}
}

// refusedByHarness checks that the harness, not the module's test, named
// the failing case.
func refusedByHarness(t *testing.T, r *FeatureResult, module, failing, message string) {
	t.Helper()
	err := r.Err()
	if err == nil {
		t.Fatal("verified")
	}
	t.Log(err)
	for _, want := range []string{
		"verify " + module + ": conformance case TestNaviusHarness/" + failing + " failed: ",
		message,
		"--no-verify",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func TestVerifyRefusesBrokenCopy(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	if err := modtest.BrokenFSDB(naviusRoot, dir); err != nil {
		t.Fatal(err)
	}
	r := verify(t, dir)
	refusedByHarness(t, r, "example.com/navius-brokenfsdb", "brokenfsdb/database:brokenfsdb/navius.database.v2/Delete",
		"second Delete = true, <nil>; want false, nil")
	// The suite still ran: one case short, and the harness names the
	// required case that did not pass.
	if len(r.Harness.Suites) != 1 || r.Harness.Suites[0].Passed != r.Harness.Suites[0].Cases-1 {
		t.Fatalf("suites = %+v", r.Harness.Suites)
	}
}

// The two ways issue 22 passed the old check, with the provider it
// registered untested: each module's own test passes, and would have
// verified it, as the same module with a schema-1 feature file shows. The
// harness tests what it registers and names the broken Delete.
func TestVerifyRefusesCheats(t *testing.T) {
	skipShort(t)
	for _, c := range []struct{ dir, module, feature string }{
		{"wrapmem", "example.com/navius-wrapmem", "wrapmem"},
		{"forgedmarker", "example.com/navius-forgedmarker", "forged"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(fixtures, c.dir)
			if c.dir == "forgedmarker" {
				dir = t.TempDir()
				if err := modtest.ForgedMarker(naviusRoot, dir); err != nil {
					t.Fatal(err)
				}
			}
			r := verify(t, dir)
			refusedByHarness(t, r, c.module, c.feature+"/database:"+c.feature+"/navius.database.v2/Delete", "Get after Delete: err = <nil>, want ErrNotFound")
			if r.Own == nil || !r.Own.OK() {
				t.Fatalf("the module's own test did not pass: %+v", r.Own)
			}

			// As schema 1, the module's own test decides, and passes.
			old := t.TempDir()
			if err := modtest.Copy(dir, old, naviusRoot, FileName, `"schema": 2`, `"schema": 1`); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(filepath.Join(old, FileName))
			data = []byte(strings.Replace(string(data), `"conformance": {"database": "`+c.feature+`://{dir}"},`, "", 1))
			os.WriteFile(filepath.Join(old, FileName), data, 0o644)
			r = verify(t, old)
			if err := r.Err(); err != nil || r.Verified() || r.Harness != nil || !r.Own.SuitesRan {
				t.Fatalf("as schema 1: err %v, verified %v, own %+v", err, r.Verified(), r.Own)
			}
		})
	}
}

// The init-panic fixture passes its own conformance test: the panic needs
// navius's memory provider in the same binary, which only the built
// binary's check run has.
func TestVerifyInitPanicFixturePasses(t *testing.T) {
	skipShort(t)
	r := verify(t, filepath.Join(fixtures, "initpanic"))
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyMissingTest(t *testing.T) {
	skipShort(t)
	m, err := LoadModule(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	m.Features[0].ConformanceTest = "TestNoSuchThing"
	r := verifyModule(t, m)
	if r.Own == nil || r.Own.Found || !strings.Contains(r.Own.Problem, "no test TestNoSuchThing ran in package example.com/navius-fsdb") {
		t.Fatalf("own = %+v", r.Own)
	}
}

// fakeModule writes a module whose package holds test as its test file,
// with a schema-1 feature (the module's own test decides).
func fakeModule(t *testing.T, test string, extra map[string]string) *Module {
	dir := t.TempDir()
	abs, _ := filepath.Abs(naviusRoot)
	write(t, dir, "go.mod", "module example.com/fake\n\ngo 1.26.0\n\nrequire github.com/navius-dev/navius v0.0.0-00010101000000-000000000000\n\nreplace github.com/navius-dev/navius => "+abs+"\n")
	write(t, dir, "fake.go", "package fake\n")
	write(t, dir, "fake_test.go", test)
	for name, src := range extra {
		write(t, dir, name, src)
	}
	return &Module{Path: "example.com/fake", Dir: dir, Features: []Feature{{Name: "fake", Provides: []string{"database:fake"},
		Schemes: []string{"database:fake"}, Package: "example.com/fake", ConformanceTest: "TestConformance", Schema: 1}}}
}

func TestVerifyRefusesFakes(t *testing.T) {
	skipShort(t)
	required := `"` + strings.Join(conformance.Required["database"], `", "`) + `"`
	for _, c := range []struct {
		name, test string
		extra      map[string]string
		want       string
	}{
		{
			name: "test without the kit",
			test: "package fake\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) { t.Log(\"all good\") }\n",
			want: "navius's database suite did not run inside the test: call providertest.RunDatabaseTests from it",
		},
		{
			// Subtests named like the suite's and a marker line copied
			// from another run: the digest is not this run's.
			name: "forged marker",
			test: `package fake

import "testing"

func TestConformance(t *testing.T) {
	t.Run("navius.database.v2", func(t *testing.T) {
		cases := []string{` + required + `}
		for _, c := range cases {
			t.Run(c, func(t *testing.T) {})
		}
		t.Logf("navius-conformance/v2 suite=database impl=example.com/fake.*DB cases=%d passed=%d digest=0123456789abcdef0123456789abcdef", len(cases), len(cases))
	})
}
`,
			want: "suite database's marker does not carry this run's proof",
		},
		{
			name: "marker outside the suite",
			test: "package fake\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) { t.Log(\"navius-conformance/v2 suite=database impl=x.*DB cases=0 passed=0 digest=-\") }\n",
			want: "marker of suite database logged by TestConformance, not by its suite's subtest",
		},
		{
			name: "suite skipped",
			test: `package fake

import (
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

func TestConformance(t *testing.T) {
	t.Skip("later")
	providertest.TestDatabase(t, func(t *testing.T) providers.Database { return nil })
}
`,
			want: "TestConformance was skipped: it must run, not skip",
		},
		{
			name:  "init panics",
			test:  "package fake\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) {}\n",
			extra: map[string]string{"init.go": "package fake\n\nfunc init() { panic(\"fake: no backend configured\") }\n"},
			want:  "the test binary failed before TestConformance ran: panic: fake: no backend configured",
		},
		{
			name: "does not compile",
			test: "package fake\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) { undefinedThing() }\n",
			want: "does not build: ",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := verifyModule(t, fakeModule(t, c.test, c.extra))
			err := r.Err()
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v\nwant one line containing %q", err, c.want)
			}
		})
	}
}

// stream builds a `go test -json` event stream.
type stream struct{ lines []string }

func (s *stream) ev(action, test, output string) *stream {
	b, _ := json.Marshal(map[string]string{"Action": action, "Package": "example.com/m", "Test": test, "Output": output})
	s.lines = append(s.lines, string(b))
	return s
}

func (s *stream) String() string { return strings.Join(s.lines, "\n") + "\n" }

// suiteStream is a passing database suite run, with a marker made by
// mark from the passed cases.
func suiteStream(cases []string, mark func(passed []string) conformance.Marker) *stream {
	s := &stream{}
	s.ev("run", "TestC", "").ev("run", "TestC/navius.database.v2", "")
	for _, c := range cases {
		s.ev("run", "TestC/navius.database.v2/"+c, "").ev("pass", "TestC/navius.database.v2/"+c, "")
	}
	m := mark(cases)
	s.ev("output", "TestC/navius.database.v2", "    suite.go:81: "+m.String()+"\n")
	s.ev("pass", "TestC/navius.database.v2", "").ev("pass", "TestC", "").ev("pass", "", "")
	return s
}

func TestEvaluateMarkers(t *testing.T) {
	const nonce = "n0nce"
	cases := conformance.Required["database"]
	good := func(impl string) func([]string) conformance.Marker {
		return func(passed []string) conformance.Marker {
			return conformance.Marker{Suite: "database", Impl: impl, Cases: len(passed), Passed: len(passed), Digest: conformance.Digest(nonce, "database", impl, passed)}
		}
	}
	expect := Expect{Test: "TestC", Package: "example.com/m", ModulePath: "example.com/m", Suites: []string{"database"}, Nonce: nonce}

	r := Evaluate(strings.NewReader(suiteStream(cases, good("example.com/m/db.*DB")).String()), expect)
	if !r.OK() || !r.SuitesRan {
		t.Fatalf("a genuine run: %+v", r)
	}
	for _, c := range []struct {
		name   string
		s      *stream
		expect Expect
		want   string
	}{
		{"another module's implementation", suiteStream(cases, good("github.com/navius-dev/navius/providers/memory.*Database")), expect,
			"suite database tested github.com/navius-dev/navius/providers/memory.*Database, which is not in module example.com/m"},
		{"module path prefix is not the module", suiteStream(cases, good("example.com/mm.*DB")), expect, "not in module example.com/m"},
		{"another nonce", suiteStream(cases, good("example.com/m.*DB")), Expect{Test: "TestC", ModulePath: "example.com/m", Nonce: "other"},
			"does not carry this run's proof"},
		{"inflated counts", suiteStream(cases, func(p []string) conformance.Marker {
			m := good("example.com/m.*DB")(p)
			m.Cases, m.Passed = 40, 40
			return m
		}), expect, fmt.Sprintf("claims 40 cases, 40 passed; the events show %d and %d", len(cases), len(cases))},
		{"a required case missing", suiteStream(cases[1:], good("example.com/m.*DB")), expect, "required case GetMissing did not pass"},
		{"the expected suite missing", suiteStream(cases, good("example.com/m.*DB")), Expect{Test: "TestC", ModulePath: "example.com/m", Suites: []string{"cache"}, Nonce: nonce},
			"navius's cache suite did not run inside the test: call providertest.RunCacheTests from it"},
		{"no suite at all", (&stream{}).ev("run", "TestC", "").ev("pass", "TestC", ""), Expect{Test: "TestC", Nonce: nonce},
			"no navius conformance suite ran inside the test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Evaluate(strings.NewReader(c.s.String()), c.expect)
			if r.OK() || !strings.Contains(r.Problem, c.want) {
				t.Fatalf("problem %q, want %q", r.Problem, c.want)
			}
		})
	}
}

// Failures are reported innermost first with what the case logged, and a
// panic in the middle of the test is named.
func TestEvaluateFailures(t *testing.T) {
	s := (&stream{}).
		ev("run", "TestC", "").ev("run", "TestC/navius.database.v2", "").
		ev("run", "TestC/navius.database.v2/Delete", "").
		ev("output", "TestC/navius.database.v2/Delete", "=== RUN   TestC/navius.database.v2/Delete\n").
		ev("output", "TestC/navius.database.v2/Delete", "    database.go:129: second Delete = true, <nil>; want false, nil\n").
		ev("fail", "TestC/navius.database.v2/Delete", "").
		ev("run", "TestC/navius.database.v2/Query", "").
		ev("output", "TestC/navius.database.v2/Query", "    database.go:200: boom\n").
		ev("fail", "TestC/navius.database.v2/Query", "").
		ev("fail", "TestC/navius.database.v2", "").ev("fail", "TestC", "").ev("fail", "", "")
	r := Evaluate(strings.NewReader(s.String()), Expect{Test: "TestC", Package: "example.com/m"})
	want := "conformance case TestC/navius.database.v2/Delete failed: database.go:129: second Delete = true, <nil>; want false, nil (and 1 more failing case)"
	if r.Problem != want || len(r.Failed) != 2 || r.Failed[1].Message != "database.go:200: boom" {
		t.Fatalf("problem %q\nwant    %q\nfailed %+v", r.Problem, want, r.Failed)
	}

	timeout := (&stream{}).ev("run", "TestC", "").
		ev("output", "", "panic: test timed out after 10m0s\n").ev("fail", "", "")
	r = Evaluate(strings.NewReader(timeout.String()), Expect{Test: "TestC", Package: "example.com/m"})
	if !strings.Contains(r.Problem, "TestC did not pass (it did not finish: panic: test timed out after 10m0s") {
		t.Fatalf("problem %q", r.Problem)
	}
}

// The out-of-tree recipe of docs/PROVIDERS.md: a module in a directory of
// its own, outside any checkout, whose go.work puts it beside a navius
// checkout (no replace in its go.mod). Its tests run against the checkout,
// and navius's verified build takes it as it is.
func TestOutOfTreeRecipe(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	if err := modtest.Copy(exampleDir, dir, naviusRoot, "go.mod", "replace github.com/navius-dev/navius => ../..\n", ""); err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(naviusRoot)
	write(t, dir, "go.work", "go 1.26.0\n\nuse (\n\t.\n\t"+root+"\n)\n")
	cmd := exec.Command("go", "test", "-count=1", "-run", "^TestConformance$", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOPROXY=off") // nothing is fetched
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test in the module's directory: %v\n%s", err, out)
	}
	if r := verify(t, dir); r.Err() != nil || !r.Verified() {
		t.Fatalf("verified %v: %v", r.Verified(), r.Err())
	}
}

// cacheModule writes a module whose package registers a cache for
// ctxcache://: navius's memory cache under a type of the module, and the
// files of extra (methods of Cache that break it).
func cacheModule(t *testing.T, extra map[string]string) *Module {
	dir := t.TempDir()
	abs, _ := filepath.Abs(naviusRoot)
	write(t, dir, "go.mod", "module example.com/ctxcache\n\ngo 1.26.0\n\nrequire github.com/navius-dev/navius v0.0.0-00010101000000-000000000000\n\nreplace github.com/navius-dev/navius => "+abs+"\n")
	write(t, dir, "ctxcache.go", `package ctxcache

import (
	"context"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

func init() { providers.RegisterCache("ctxcache", []string{"ctxcache"}, Open) }

// Cache is navius's memory cache under a type of this module.
type Cache struct{ providers.Cache }

func Open(ctx context.Context, cfg providers.CacheConfig) (providers.Cache, error) {
	cfg.URL = "memory://"
	c, err := memory.OpenCache(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return Cache{c}, nil
}
`)
	for name, src := range extra {
		write(t, dir, name, src)
	}
	return &Module{Path: "example.com/ctxcache", Dir: dir, Features: []Feature{{Name: "ctxcache", Provides: []string{"cache:ctxcache"},
		Schemes: []string{"cache:ctxcache"}, Package: "example.com/ctxcache", Schema: 2,
		Conformance: map[string]Instance{"cache": {URL: "ctxcache://"}}}}}
}

// navius's harness holds a cache provider to every required case of the
// cache suite, HonoursContext and CloseWhileBusy among them: a correct
// cache is verified with all of them run, and one whose Set ignores its
// context is refused naming HonoursContext.
func TestVerifyCacheModule(t *testing.T) {
	skipShort(t)
	t.Run("correct", func(t *testing.T) {
		t.Parallel()
		r := verifyModule(t, cacheModule(t, nil))
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		want := conformance.Required[conformance.Cache]
		if !r.Verified() || r.Harness == nil || len(r.Harness.Suites) != 1 {
			t.Fatalf("result = %+v", r)
		}
		if s := r.Harness.Suites[0]; s.Suite != "cache" || s.Test != "TestNaviusHarness/ctxcache/cache:ctxcache/navius.cache.v2" ||
			s.Impl != "example.com/ctxcache.Cache" || !s.Valid || s.Cases != len(want) || s.Passed != s.Cases {
			t.Fatalf("harness suite run = %+v; want %d cases (%v)", s, len(want), want)
		}
	})
	t.Run("ignores its context", func(t *testing.T) {
		t.Parallel()
		r := verifyModule(t, cacheModule(t, map[string]string{"set.go": `package ctxcache

import (
	"context"
	"time"
)

// Set sets whatever its context says.
func (c Cache) Set(_ context.Context, key string, v []byte, ttl time.Duration) error {
	return c.Cache.Set(context.Background(), key, v, ttl)
}
`}))
		refusedByHarness(t, r, "example.com/ctxcache", "ctxcache/cache:ctxcache/navius.cache.v2/HonoursContext",
			"Set with a context cancelled: err = <nil>, want an error wrapping context canceled")
	})
}
