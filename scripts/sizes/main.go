// Command sizes measures navius's builds.
//
//	go run ./scripts/sizes            # make sizes: measure every feature, update
//	                                  # features.json, docs/SIZES.md and the budget baselines
//	go run ./scripts/sizes -check     # make size-check: fail when a budgeted build is over
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/sizes"
)

func main() {
	check := flag.Bool("check", false, "check the size budgets instead of measuring")
	budgetFile := flag.String("budget", "size-budget.json", "size budget file")
	flag.Parse()
	if err := run(*check, *budgetFile); err != nil {
		fmt.Fprintln(os.Stderr, "sizes:", err)
		os.Exit(1)
	}
}

func run(check bool, budgetFile string) error {
	ctx := context.Background()
	src, err := build.FindSource(".")
	if err != nil {
		return err
	}
	manifestPath := filepath.Join(src, "features.json")
	m, err := manifest.Load(manifestPath)
	if err != nil {
		return err
	}
	bl, err := sizes.NewBuilder(src, m)
	if err != nil {
		return err
	}
	defer bl.Close()
	bl.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
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
