package build

import (
	"slices"
	"testing"

	"github.com/navius-dev/navius/internal/manifest"
)

// A build is static unless an extra flag links a C runtime (-race, -msan,
// -asan), which needs cgo: the plan turns it on and names the flag.
func TestPlanCgo(t *testing.T) {
	for _, c := range []struct {
		extra []string
		flag  string
	}{
		{nil, ""},
		{[]string{"-buildvcs=false", "-v"}, ""},
		{[]string{"-race"}, "-race"},
		{[]string{"-v", "--race"}, "--race"},
		{[]string{"-race=true"}, "-race=true"},
		{[]string{"-race=false"}, ""},
		{[]string{"-msan"}, "-msan"},
		{[]string{"-asan=1"}, "-asan=1"},
		{[]string{"-racy"}, ""},
	} {
		plan, err := NewPlan(Options{Source: "/src", Version: "v1.0.0", Selection: manifest.Selection{}, ExtraArgs: c.extra})
		if err != nil {
			t.Fatal(err)
		}
		want := "CGO_ENABLED=0"
		if c.flag != "" {
			want = "CGO_ENABLED=1"
		}
		if plan.Cgo != c.flag || !slices.Contains(plan.Env, want) || len(plan.Env) != 1 {
			t.Errorf("extra %q: cgo %q, env %v; want %q and %s", c.extra, plan.Cgo, plan.Env, c.flag, want)
		}
	}
}

// A build that needs cgo without a C compiler is refused naming the fix.
func TestCheckCC(t *testing.T) {
	t.Setenv("CC", "navius-no-such-cc")
	err := CheckCC(t.Context(), "-race")
	if err == nil || err.Error() != "-race needs cgo, and its C compiler navius-no-such-cc (go env CC) is not on PATH: install one (apt-get install -y gcc), or build without -race" {
		t.Fatalf("CheckCC without a compiler: %v", err)
	}
}
