package thirdparty

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
)

// NaviusModule is navius's module path: the requirement Verify points at the
// navius tree under test.
const NaviusModule = "github.com/navius-dev/navius"

// Expect is what Evaluate checks a `go test -json` stream against.
type Expect struct {
	Test       string   // the conformance test's name
	Package    string   // its package: events of other packages are left out
	ModulePath string   // the module the tested implementation must be in ("" skips it)
	Suites     []string // suites that must have run; empty: at least one
	Nonce      string   // the value of NAVIUS_CONFORMANCE_NONCE in the run
	// PassOnly: the test need only pass (a module's own test beside
	// navius's harness); markers are not looked for.
	PassOnly bool
}

// Result is what a conformance run showed.
type Result struct {
	Test    string
	Package string
	// Found: the test ran. Passed: it passed.
	Found, Passed bool
	// BuildFailed: the package or its tests did not compile.
	BuildFailed bool
	// Suites are the navius suite runs seen, valid or not.
	Suites []SuiteRun
	// SuitesRan: every expected suite logged a valid marker, and no marker
	// was invalid.
	SuitesRan bool
	// Failed are the failing cases, innermost tests only, in order.
	Failed []Failure
	// Problem says in one line why the module is refused; "" when it is
	// verified.
	Problem string
	// Command is the go test command line that ran (set by Verify).
	Command string
	Elapsed time.Duration
}

// SuiteRun is one navius suite's marker and what the events say about it.
type SuiteRun struct {
	Suite string
	// Test is the suite's subtest, e.g. TestConformance/navius.database.v1.
	Test          string
	Impl          string
	Cases, Passed int
	// Valid: the marker agrees with the events and the nonce, every
	// required case passed, and the implementation is the module's.
	Valid bool
	// Problem says why it is not valid.
	Problem string

	digest string
}

// Failure is a failing test and the first thing it reported.
type Failure struct {
	Test    string
	Message string
}

// OK reports whether the module is verified.
func (r *Result) OK() bool { return r.Problem == "" }

// Err is nil for a verified module, else one line naming the module's test,
// the failing case and what it reported.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("verify %s: %s (navius build --no-verify, or make build NO_VERIFY=1, skips this check)", r.Package, r.Problem)
}

// event is one `go test -json` event (cmd/test2json), build events included.
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// events reads a `go test -json` stream; a line that is not an event (go's
// own message) becomes an output event of no package.
func events(stream io.Reader) []event {
	var out []event
	sc := bufio.NewScanner(stream)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			ev = event{Action: "output", Output: sc.Text()}
		}
		out = append(out, ev)
	}
	return out
}

// of tells whether an event belongs to the package pkg (its tests, its
// test binary, or the build of either); an event of no package belongs to
// every one.
func (ev event) of(pkg string) bool {
	switch {
	case pkg == "" || (ev.Package == "" && ev.ImportPath == ""):
		return true
	case ev.Package != "":
		return ev.Package == pkg
	}
	return ev.ImportPath == pkg || strings.HasPrefix(ev.ImportPath, pkg+" ")
}

// Evaluate reads a `go test -json` stream and decides whether it shows the
// expected conformance test passing with navius's suites inside.
func Evaluate(stream io.Reader, e Expect) *Result {
	return evaluate(events(stream), e)
}

func evaluate(evs []event, e Expect) *Result {
	r := &Result{Test: e.Test, Package: e.Package}
	status := map[string]string{} // test -> pass, fail, skip
	ran := map[string]bool{}
	output := map[string][]string{}
	var order []string
	var markers []SuiteRun
	var buildOut, pkgOut []string
	pkgFailed := false

	for _, ev := range evs {
		if !ev.of(e.Package) {
			continue
		}
		switch ev.Action {
		case "build-output":
			buildOut = append(buildOut, ev.Output)
		case "build-fail":
			r.BuildFailed = true
		case "run":
			if !ran[ev.Test] {
				order = append(order, ev.Test)
			}
			ran[ev.Test] = true
		case "pass", "fail", "skip":
			if ev.Test != "" {
				status[ev.Test] = ev.Action
			} else if ev.Action == "fail" {
				pkgFailed = true
			}
		case "output":
			if ev.Test == "" {
				pkgOut = append(pkgOut, ev.Output)
				continue
			}
			output[ev.Test] = append(output[ev.Test], ev.Output)
			if m, ok := conformance.ParseMarker(ev.Output); ok && !e.PassOnly {
				markers = append(markers, SuiteRun{Suite: m.Suite, Test: ev.Test, Impl: m.Impl, Cases: m.Cases, Passed: m.Passed, digest: m.Digest})
			}
		}
	}

	under := func(name string) bool { return name == e.Test || strings.HasPrefix(name, e.Test+"/") }
	r.Found = ran[e.Test]
	r.Passed = status[e.Test] == "pass"

	// Failures: the innermost failing tests under the conformance test.
	var failed []string
	for _, name := range order {
		if status[name] == "fail" && under(name) {
			failed = append(failed, name)
		}
	}
	for _, name := range failed {
		inner := slices.ContainsFunc(failed, func(o string) bool { return strings.HasPrefix(o, name+"/") })
		if !inner {
			r.Failed = append(r.Failed, Failure{Test: name, Message: reported(output[name])})
		}
	}

	// Markers: each must agree with the events.
	for _, m := range markers {
		m.Problem = checkMarker(m, e, ran, status, under)
		m.Valid = m.Problem == ""
		r.Suites = append(r.Suites, m)
	}
	if e.PassOnly {
		r.SuitesRan = true
	} else {
		r.SuitesRan, r.Problem = suitesProblem(r.Suites, e.Suites)
	}

	switch {
	case r.BuildFailed:
		r.Problem = "does not build: " + firstLine(strings.Join(buildOut, ""), "see go test's output")
	case !r.Found && pkgFailed:
		r.Problem = "the test binary failed before " + e.Test + " ran: " + panicLine(pkgOut)
	case !r.Found:
		r.Problem = fmt.Sprintf("no test %s ran in package %s: the feature file's conformance_test must name a test of that package", e.Test, e.Package)
	case len(r.Failed) > 0:
		f := r.Failed[0]
		more := ""
		if len(r.Failed) > 1 {
			more = fmt.Sprintf(" (and %d more failing case%s)", len(r.Failed)-1, plural(len(r.Failed)-1))
		}
		r.Problem = fmt.Sprintf("conformance case %s failed: %s%s", f.Test, f.Message, more)
	case status[e.Test] == "skip":
		r.Problem = fmt.Sprintf("%s was skipped: it must run, not skip", e.Test)
	case !r.Passed:
		r.Problem = fmt.Sprintf("%s did not pass (%s)", e.Test, orDefault(status[e.Test], "it did not finish: "+panicLine(append(pkgOut, output[e.Test]...))))
	}
	return r
}

// checkMarker compares a suite's marker with the events of its cases.
func checkMarker(m SuiteRun, e Expect, ran map[string]bool, status map[string]string, under func(string) bool) string {
	if !under(m.Test) || !strings.HasSuffix(m.Test, "/"+conformance.SuiteTest(m.Suite)) {
		return fmt.Sprintf("marker of suite %s logged by %s, not by its suite's subtest under %s", m.Suite, m.Test, e.Test)
	}
	if _, known := conformance.Required[m.Suite]; !known {
		return fmt.Sprintf("marker names unknown suite %q", m.Suite)
	}
	var cases, passed []string
	for name := range ran {
		c, ok := strings.CutPrefix(name, m.Test+"/")
		if !ok || strings.Contains(c, "/") {
			continue
		}
		cases = append(cases, c)
		if status[name] == "pass" {
			passed = append(passed, c)
		}
	}
	sort.Strings(passed)
	switch {
	case len(cases) != m.Cases || len(passed) != m.Passed:
		return fmt.Sprintf("suite %s claims %d cases, %d passed; the events show %d and %d", m.Suite, m.Cases, m.Passed, len(cases), len(passed))
	case m.digest != conformance.Digest(e.Nonce, m.Suite, m.Impl, passed):
		return fmt.Sprintf("suite %s's marker does not carry this run's proof: it was not printed by navius's providertest in this run", m.Suite)
	}
	for _, req := range conformance.Required[m.Suite] {
		if !slices.Contains(passed, req) {
			return fmt.Sprintf("suite %s: required case %s did not pass", m.Suite, req)
		}
	}
	if e.ModulePath != "" {
		for _, impl := range strings.Split(m.Impl, ",") {
			pkg := impl
			if i := strings.LastIndex(impl, "."); i > 0 {
				pkg = impl[:i]
			}
			if pkg != e.ModulePath && !strings.HasPrefix(pkg, e.ModulePath+"/") {
				return fmt.Sprintf("suite %s tested %s, which is not in module %s: the conformance test must open the module's own provider", m.Suite, impl, e.ModulePath)
			}
		}
	}
	return ""
}

// suitesProblem decides whether the expected suites ran.
func suitesProblem(runs []SuiteRun, want []string) (bool, string) {
	for _, s := range runs {
		if !s.Valid {
			return false, s.Problem
		}
	}
	if len(want) == 0 {
		if len(runs) == 0 {
			return false, "no navius conformance suite ran inside the test: call providertest.Run...Tests from it"
		}
		return true, ""
	}
	for _, w := range want {
		if !slices.ContainsFunc(runs, func(s SuiteRun) bool { return s.Suite == w }) {
			return false, fmt.Sprintf("navius's %s suite did not run inside the test: call providertest.%s from it", w, entryPoint(w))
		}
	}
	return true, ""
}

func entryPoint(suite string) string {
	switch suite {
	case conformance.Database:
		return "RunDatabaseTests"
	case conformance.Cache:
		return "RunCacheTests"
	case conformance.Logging:
		return "RunLogSinkTests"
	case conformance.Observability:
		return "RunObserverTests"
	}
	return "Run" + suite + "Tests"
}

// reported is the first message a failing test logged (t.Fatal's text),
// without go test's framing lines.
func reported(lines []string) string {
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") || strings.Contains(t, conformance.MarkerPrefix) {
			continue
		}
		return t
	}
	return "no message"
}

// panicLine finds the panic in a test binary's output, else its first line.
func panicLine(lines []string) string {
	for i, l := range lines {
		if strings.HasPrefix(l, "panic: ") {
			msg := strings.TrimSpace(l)
			// A panic in init is followed by the goroutine trace; the
			// first frame outside runtime names the culprit.
			for _, f := range lines[i+1:] {
				f = strings.TrimSpace(f)
				if f != "" && !strings.HasPrefix(f, "goroutine ") && !strings.HasPrefix(f, "[") && !strings.HasPrefix(f, "panic(") &&
					!strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "/") {
					return msg + " (in " + f + ")"
				}
			}
			return msg
		}
	}
	return firstLine(strings.Join(lines, ""), "no output")
}

func firstLine(s, fallback string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return fallback
}

func errText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return firstLine(string(ee.Stderr), err.Error())
	}
	return err.Error()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
