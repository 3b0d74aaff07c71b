package providertest

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/internal/conformance"
)

// suiteRun runs one suite's cases under its versioned subtest
// (navius.<suite>.v2) and remembers which ran and passed, for the marker.
type suiteRun struct {
	name   string
	t      *testing.T
	ran    []string
	passed []string

	mu    sync.Mutex
	impls []string
}

// runSuite runs body's cases under the suite's subtest, then logs the
// marker the verified build looks for (see internal/conformance).
func runSuite(t *testing.T, suite string, body func(s *suiteRun)) {
	t.Helper()
	t.Run(conformance.SuiteTest(suite), func(t *testing.T) {
		s := &suiteRun{name: suite, t: t}
		body(s)
		s.mark()
	})
}

// run runs one case as a subtest. A case that -run filtered out does not
// count as run.
func (s *suiteRun) run(name string, fn func(t *testing.T)) {
	var sub *testing.T
	s.t.Run(name, func(t *testing.T) {
		sub = t
		fn(t)
	})
	if sub == nil {
		return
	}
	s.ran = append(s.ran, name)
	if !sub.Failed() && !sub.Skipped() {
		s.passed = append(s.passed, name)
	}
}

// tested records the type of an implementation the suite exercised.
func (s *suiteRun) tested(impl any) {
	name := typeName(impl)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.impls, name) {
		s.impls = append(s.impls, name)
	}
}

func (s *suiteRun) mark() {
	s.mu.Lock()
	impls := slices.Clone(s.impls)
	s.mu.Unlock()
	sort.Strings(impls)
	impl := strings.Join(impls, ",")
	if impl == "" {
		impl = "none"
	}
	m := conformance.Marker{
		Suite:  s.name,
		Impl:   impl,
		Cases:  len(s.ran),
		Passed: len(s.passed),
		Digest: conformance.Digest(os.Getenv(conformance.NonceEnv), s.name, impl, s.passed),
	}
	s.t.Log(m.String())
	if suiteDone != nil {
		suiteDone(m, s.ran, s.passed)
	}
	if conformance.SuiteDone != nil {
		conformance.SuiteDone(m, slices.Clone(s.ran), slices.Clone(s.passed))
	}
}

// suiteDone, when set (by this package's tests), sees every finished suite.
var suiteDone func(m conformance.Marker, ran, passed []string)

// typeName names v's dynamic type with its full package path, e.g.
// "example.com/navius-fsdb.*DB", so that the verifier can tell which
// module's code the suite ran against.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	stars := ""
	for t.Kind() == reflect.Pointer {
		stars += "*"
		t = t.Elem()
	}
	name, _, _ := strings.Cut(t.Name(), "[") // generic instantiations name other packages
	if t.PkgPath() == "" || name == "" {
		return strings.ReplaceAll(stars+t.String(), " ", "")
	}
	return t.PkgPath() + "." + stars + name
}
