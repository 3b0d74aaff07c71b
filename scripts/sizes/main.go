// Command sizes measures navius's builds.
//
//	go run ./scripts/sizes            # make sizes: measure every feature, update
//	                                  # features.json, docs/SIZES.md and the budget baselines
//	go run ./scripts/sizes -check     # make size-check: fail when a budgeted build is over
//	go run ./scripts/sizes -with M=D  # make sizes WITH=...: measure the features of --with
//	                                  # modules and print them; nothing is written
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/sizes"
)

func main() {
	check := flag.Bool("check", false, "check the size budgets instead of measuring")
	budgetFile := flag.String("budget", "size-budget.json", "size budget file")
	var with []string
	flag.Func("with", "measure the features of the provider module `MODULE[@VERSION][=LOCAL_DIR]` (repeatable) instead", func(s string) error {
		with = append(with, strings.Fields(s)...)
		return nil
	})
	flag.Parse()
	if len(with) > 0 {
		if err := measureWith(with); err != nil {
			fmt.Fprintln(os.Stderr, "sizes:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*check, *budgetFile); err != nil {
		fmt.Fprintln(os.Stderr, "sizes:", err)
		os.Exit(1)
	}
}

func run(check bool, budgetFile string) error {
	ctx := context.Background()
	src, m, bl, err := openBuilder(ctx, nil)
	if err != nil {
		return err
	}
	defer bl.Close()
	manifestPath := filepath.Join(src, "features.json")
	budgets, err := sizes.LoadBudgets(filepath.Join(src, budgetFile))
	if err != nil {
		return err
	}

	if check {
		violations, got, err := budgets.Check(ctx, bl)
		if err != nil {
			return err
		}
		for _, b := range budgets.Budgets {
			fmt.Printf("%-10s %10d bytes of %10d budget (%.1f%%)\n", b.Name, got[b.Name], b.MaxBytes, 100*float64(got[b.Name])/float64(b.MaxBytes))
		}
		var errs []error
		for _, v := range violations {
			errs = append(errs, v)
		}
		return errors.Join(errs...)
	}

	r, err := bl.MeasureAll(ctx)
	if err != nil {
		return err
	}
	r.Apply(m)
	if err := sizes.WriteManifest(manifestPath, m); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(src, "docs"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "docs", "SIZES.md"), []byte(r.Table(m, runtime.Version())), 0o644); err != nil {
		return err
	}
	if err := budgets.Rebaseline(ctx, bl); err != nil {
		return err
	}
	if err := budgets.Write(filepath.Join(src, budgetFile)); err != nil {
		return err
	}
	fmt.Printf("core %d, default %d, all %d bytes\n", r.Core, r.Default, r.All)
	for _, f := range r.Features {
		fmt.Printf("%-12s %+10d bytes\n", f.Feature, f.Impact())
	}
	fmt.Println("updated features.json, docs/SIZES.md and", budgetFile)
	return nil
}

// measureWith measures what each feature of the --with modules adds to a
// build of its requirements. The figures go to stdout only: features.json
// and docs/SIZES.md describe navius's own features, and a module's size
// depends on its version, which navius does not pin.
func measureWith(with []string) error {
	ctx := context.Background()
	_, m, bl, err := openBuilder(ctx, with)
	if err != nil {
		return err
	}
	defer bl.Close()
	ms, err := bl.Measure(ctx, build.FeatureNames(bl.Modules))
	if err != nil {
		return err
	}
	for _, f := range ms {
		fmt.Printf("%-12s %+10d bytes (%d with its requirements, %d without; module %s)\n", f.Feature, f.Impact(), f.With, f.Base, m.Feature(f.Feature).Module)
	}
	return nil
}

// openBuilder finds the source tree, loads its features.json with the
// features of the --with modules added (none without with), and opens a
// size builder of them that logs on stderr. The caller closes it.
func openBuilder(ctx context.Context, with []string) (string, *manifest.Manifest, *sizes.Builder, error) {
	src, err := build.FindSource(".")
	if err != nil {
		return "", nil, nil, err
	}
	m, err := manifest.Load(filepath.Join(src, "features.json"))
	if err != nil {
		return "", nil, nil, err
	}
	mods, m, err := build.LoadModules(ctx, m, with)
	if err != nil {
		return "", nil, nil, err
	}
	bl, err := sizes.NewBuilder(src, m)
	if err != nil {
		return "", nil, nil, err
	}
	bl.Modules = mods
	bl.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	return src, m, bl, nil
}
