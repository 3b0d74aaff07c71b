package thirdparty

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
)

// naviusRoot is the tree under test; every real run verifies against it.
const naviusRoot = "../.."

func verify(t *testing.T, dir, test string, suites []string) *Result {
	t.Helper()
	m, err := LoadModule(dir)
	modPath, pkg := "", ""
	if err == nil {
		modPath, pkg = m.Path, m.Features[0].Package
		if test == "" {
			test = m.Features[0].ConformanceTest
		}
		if suites == nil {
			suites = m.Features[0].Suites()
		}
	} else {
		// A module made by the test, without a feature file.
		gomod, rerr := os.ReadFile(filepath.Join(dir, "go.mod"))
		if rerr != nil {
			t.Fatal(err)
		}
		modPath, pkg = ModulePath(gomod), ModulePath(gomod)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := Verify(ctx, VerifyOptions{Dir: dir, ModulePath: modPath, Package: pkg, Test: test, Suites: suites, Navius: naviusRoot})
	if err != nil {
		t.Fatal(err)
	}
	return r
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

func TestVerifyExample(t *testing.T) {
	skipShort(t)
	before := snapshot(t, exampleDir)
	r := verify(t, exampleDir, "", nil)
	if err := r.Err(); err != nil {
		t.Fatalf("%v\ncommand: %s", err, r.Command)
	}
	t.Logf("verified in %v: %s", r.Elapsed, r.Command)
	if !r.Found || !r.Passed || !r.SuitesRan || len(r.Suites) != 1 || len(r.Failed) != 0 {
		t.Fatalf("result = %+v", r)
	}
	s := r.Suites[0]
	if s.Suite != "database" || s.Test != "TestConformance/navius.database.v1" || s.Impl != "example.com/navius-fsdb.*DB" ||
		!s.Valid || s.Cases != len(conformance.Required["database"])+1 || s.Passed != s.Cases {
		t.Fatalf("suite run = %+v", s)
	}
	if !strings.Contains(r.Command, "-modfile=") || r.Elapsed <= 0 {
		t.Fatalf("command %q, elapsed %v", r.Command, r.Elapsed)
	}
	if after := snapshot(t, exampleDir); after != before {
		t.Fatalf("verification changed the module's directory:\n%s\n---\n%s", before, after)
	}
}

func TestVerifyRefusesBrokenCopy(t *testing.T) {
	skipShort(t)
	r := verify(t, filepath.Join(fixtures, "brokenfsdb"), "", nil)
	err := r.Err()
	if err == nil {
		t.Fatal("the broken copy was verified")
	}
	t.Log(err)
	if len(r.Failed) != 1 || r.Failed[0].Test != "TestConformance/navius.database.v1/Delete" {
		t.Fatalf("failed = %+v", r.Failed)
	}
	for _, want := range []string{
		"verify example.com/navius-brokenfsdb: conformance case TestConformance/navius.database.v1/Delete failed:",
		"second Delete = true, <nil>; want false, nil",
		"--no-verify",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	// The suite still ran: its marker is valid, with one case short.
	if len(r.Suites) != 1 || r.Suites[0].Passed != r.Suites[0].Cases-1 {
		t.Fatalf("suites = %+v", r.Suites)
	}
}

// The init-panic fixture passes its own conformance test: the panic needs
// navius's memory provider in the same binary, which only the built
// binary's check run has.
func TestVerifyInitPanicFixturePasses(t *testing.T) {
	skipShort(t)
	r := verify(t, filepath.Join(fixtures, "initpanic"), "", nil)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyMissingTest(t *testing.T) {
	skipShort(t)
	r := verify(t, exampleDir, "TestNoSuchThing", []string{"database"})
	if r.Found || !strings.Contains(r.Problem, "no test TestNoSuchThing ran in package example.com/navius-fsdb") {
		t.Fatalf("problem = %q", r.Problem)
	}
}

// fakeModule writes a module (no navius import unless the source has one)
// whose package holds test.go as its test file.
func fakeModule(t *testing.T, test string, extra map[string]string) string {
	dir := t.TempDir()
	abs, _ := filepath.Abs(naviusRoot)
	write(t, dir, "go.mod", "module example.com/fake\n\ngo 1.26.0\n\nrequire github.com/navius-dev/navius v0.0.0-00010101000000-000000000000\n\nreplace github.com/navius-dev/navius => "+abs+"\n")
	write(t, dir, "fake.go", "package fake\n")
	write(t, dir, "fake_test.go", test)
	for name, src := range extra {
		write(t, dir, name, src)
	}
	return dir
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
	t.Run("navius.database.v1", func(t *testing.T) {
		cases := []string{` + required + `}
		for _, c := range cases {
			t.Run(c, func(t *testing.T) {})
		}
		t.Logf("navius-conformance/v1 suite=database impl=example.com/fake.*DB cases=%d passed=%d digest=0123456789abcdef0123456789abcdef", len(cases), len(cases))
	})
}
`,
			want: "suite database's marker does not carry this run's proof",
		},
		{
			name: "marker outside the suite",
			test: "package fake\n\nimport \"testing\"\n\nfunc TestConformance(t *testing.T) { t.Log(\"navius-conformance/v1 suite=database impl=x.*DB cases=0 passed=0 digest=-\") }\n",
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
			want: "TestConformance was skipped: the conformance test must run navius's suites, not skip them",
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
			dir := fakeModule(t, c.test, c.extra)
			r := verify(t, dir, "TestConformance", []string{"database"})
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
	s.ev("run", "TestC", "").ev("run", "TestC/navius.database.v1", "")
	for _, c := range cases {
		s.ev("run", "TestC/navius.database.v1/"+c, "").ev("pass", "TestC/navius.database.v1/"+c, "")
	}
	m := mark(cases)
	s.ev("output", "TestC/navius.database.v1", "    suite.go:81: "+m.String()+"\n")
	s.ev("pass", "TestC/navius.database.v1", "").ev("pass", "TestC", "").ev("pass", "", "")
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
		}), expect, "claims 40 cases, 40 passed; the events show 13 and 13"},
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
		ev("run", "TestC", "").ev("run", "TestC/navius.database.v1", "").
		ev("run", "TestC/navius.database.v1/Delete", "").
		ev("output", "TestC/navius.database.v1/Delete", "=== RUN   TestC/navius.database.v1/Delete\n").
		ev("output", "TestC/navius.database.v1/Delete", "    database.go:129: second Delete = true, <nil>; want false, nil\n").
		ev("fail", "TestC/navius.database.v1/Delete", "").
		ev("run", "TestC/navius.database.v1/Query", "").
		ev("output", "TestC/navius.database.v1/Query", "    database.go:200: boom\n").
		ev("fail", "TestC/navius.database.v1/Query", "").
		ev("fail", "TestC/navius.database.v1", "").ev("fail", "TestC", "").ev("fail", "", "")
	r := Evaluate(strings.NewReader(s.String()), Expect{Test: "TestC", Package: "example.com/m"})
	want := "conformance case TestC/navius.database.v1/Delete failed: database.go:129: second Delete = true, <nil>; want false, nil (and 1 more failing case)"
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
