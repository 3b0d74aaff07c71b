package sizes

import (
	"context"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
)

func TestOwner(t *testing.T) {
	mods := []string{"github.com/dgraph-io/ristretto/v2", "github.com/navius-dev/navius", "go.etcd.io/bbolt"}
	cases := map[string]string{
		"github.com/dgraph-io/ristretto/v2.(*Cache[...]).Get":    "github.com/dgraph-io/ristretto/v2",
		"github.com/dgraph-io/ristretto/v2/z.KeyToHash[...]":     "github.com/dgraph-io/ristretto/v2",
		"type:*go.etcd.io/bbolt.DB":                              "go.etcd.io/bbolt",
		"runtime.mallocgc":                                       "std",
		"net/http.(*Server).Serve":                               "std",
		"go:string.*":                                            "std",
		"github.com/navius-dev/navius/internal/server.New.func1": "github.com/navius-dev/navius",
		"example.com/unknown/pkg.F":                              "runtime data",
	}
	for sym, want := range cases {
		if got := owner(sym, mods); got != want {
			t.Errorf("owner(%q) = %q, want %q", sym, got, want)
		}
	}
}

// TestCheckNamesWhatGrew builds a real minimal binary against a budget it
// cannot meet, with a recorded history in which the memory feature and the
// ristretto module were smaller: the violation must name both.
func TestCheckNamesWhatGrew(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	ctx := context.Background()
	src, err := build.FindSource(".")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(src + "/features.json")
	if err != nil {
		t.Fatal(err)
	}
	bl, err := NewBuilder(src, m)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()

	// Measure the truth, then pretend memory and ristretto used to be
	// smaller than they are.
	size := func(spec string) int64 {
		sel, err := m.Resolve(spec)
		if err != nil {
			t.Fatal(err)
		}
		n, err := bl.Size(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	core, withMemory := size("none"), size("none,memory")
	coreImpact, memoryImpact := core, withMemory-core-50_000
	m.Core.SizeImpact = &coreImpact
	m.Feature("memory").SizeImpact = &memoryImpact

	sel, _ := m.Resolve("memory")
	dbg, err := bl.Build(ctx, sel, true)
	if err != nil {
		t.Fatal(err)
	}
	baseline, err := ModuleBytes(ctx, dbg)
	if err != nil {
		t.Fatal(err)
	}
	const rist = "github.com/dgraph-io/ristretto/v2"
	if baseline[rist] == 0 {
		t.Fatalf("no symbols attributed to %s: %v", rist, baseline)
	}
	baseline[rist] = 0

	b := &Budgets{Budgets: []Budget{
		{Name: "minimal", Features: "memory", MaxBytes: 1000, Modules: baseline},
		{Name: "roomy", Features: "memory", MaxBytes: 1 << 40, Modules: baseline},
	}}
	violations, got, err := b.Check(ctx, bl)
	if err != nil {
		t.Fatal(err)
	}
	if len(violations) != 1 || got["roomy"] != withMemory {
		t.Fatalf("violations %v, sizes %v", violations, got)
	}
	v := violations[0]
	if v.Feature != "memory" || v.FeatureGrowth != 50_000 || v.Module != rist {
		t.Fatalf("violation names feature %s (+%d) and module %s; want memory (+50000) and %s", v.Feature, v.FeatureGrowth, v.Module, rist)
	}
	msg := v.Error()
	for _, want := range []string{`size budget "minimal"`, "feature memory grew most", "module " + rist, "raise max_bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
