package manifest

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes as features.json: Parse must return a
// manifest or a one-line error, never panic, and an accepted manifest must
// resolve every one of its own names.
func FuzzParse(f *testing.F) {
	real, _ := os.ReadFile("../../features.json")
	f.Add(real)
	f.Add([]byte(testManifest))
	f.Add([]byte(`{"schema":1,"core":{},"features":[{"name":"a","description":"d","category":"c","requires":["a"]}]}`))
	f.Add([]byte(`{"schema":1,"features":[{"name":"a","description":"d","category":"c","requires":["b"]},{"name":"b","description":"d","category":"c","requires":["a"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		for _, n := range m.Names() {
			sel, err := m.Resolve(n)
			if err != nil {
				t.Fatalf("accepted manifest cannot resolve its own feature %q: %v", n, err)
			}
			if !slices.Contains(sel.Features, n) {
				t.Fatalf("resolving %q lost it: %v", n, sel.Features)
			}
		}
		if _, err := m.Resolve("all"); err != nil {
			t.Fatalf("all: %v", err)
		}
	})
}

// FuzzResolve feeds arbitrary FEATURES strings to the real manifest: a
// selection must be closed under requirements and contain only known
// features; an error must be one line.
func FuzzResolve(f *testing.F) {
	m := realManifest(f)
	for _, s := range []string{"", "default", "all", "none", "memory", "default,-bolt", "all,-memory", "memroy", "-", ",,,", "a b\tc", "MEMORY", "none,bolt,-bolt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sel, err := m.Resolve(spec)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q: %q", spec, err)
			}
			return
		}
		if !slices.Equal(m.Closure(sel.Features), sel.Features) {
			t.Fatalf("selection %v for %q is not closed under requirements", sel.Features, spec)
		}
		for _, n := range sel.Features {
			if m.Feature(n) == nil {
				t.Fatalf("selection for %q holds unknown %q", spec, n)
			}
		}
		if !slices.IsSorted(sel.Features) {
			t.Fatalf("selection not sorted: %v", sel.Features)
		}
	})
}
