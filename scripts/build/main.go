// Command build is what `make build` runs: it resolves FEATURES with the same
// resolver as `navius build` and builds bin/navius static and stripped; each
// -with adds a provider module from outside the tree (make build WITH=...),
// verified by its conformance test first, as navius build --with does.
//
//	go run ./scripts/build -features memory,bolt -o bin/navius
//	go run ./scripts/build -features default -tags-only   # print the tags
//	go run ./scripts/build -with example.com/navius-fsdb=./examples/fsdb
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
)

func main() {
	features := flag.String("features", "", "comma list of features and the words default, all, none; -name removes (default: default)")
	out := flag.String("o", "bin/navius", "output binary")
	tagsOnly := flag.Bool("tags-only", false, "print the resolved build tags and exit")
	target := flag.String("target", "", "cross-compile for GOOS/GOARCH")
	var with []string
	flag.Func("with", "build in the provider module `MODULE[@VERSION][=LOCAL_DIR]` (repeatable)", func(s string) error {
		with = append(with, strings.Fields(s)...)
		return nil
	})
	noVerify := flag.Bool("no-verify", false, "with -with: skip the modules' conformance tests")
	strict := flag.Bool("strict", false, "with -with: refuse a module navius's harness does not verify (a schema-1 feature file) or that changes the version of a module navius uses")
	flag.Parse()
	ctx := context.Background()

	src, err := build.FindSource(".")
	if err != nil {
		fail(2, err)
	}
	m, err := manifest.Load(src + "/features.json")
	if err != nil {
		fail(2, err)
	}
	mods, m, err := build.LoadModules(ctx, m, with)
	if err != nil {
		fail(2, err)
	}
	spec := manifest.SpecWith(*features, build.FeatureNames(mods)...)
	sel, err := m.Resolve(spec)
	if err != nil {
		fail(2, fmt.Errorf("FEATURES=%s: %w", *features, err))
	}
	// make tags refuses what make build refuses.
	warning, err := m.CheckServes(spec, sel)
	if err != nil {
		fail(2, fmt.Errorf("FEATURES=%s: %w", *features, err))
	}
	if warning != "" {
		fmt.Fprintln(os.Stderr, "build: warning:", warning)
	}
	if *tagsOnly {
		fmt.Println(strings.Join(build.Tags(sel), ","))
		return
	}
	opts := build.Options{Source: src, Selection: sel, Output: *out, Modules: mods}
	if *target != "" {
		goos, goarch, ok := strings.Cut(*target, "/")
		if !ok || goos == "" || goarch == "" {
			fail(2, fmt.Errorf("-target %q: use GOOS/GOARCH, e.g. linux/arm64", *target))
		}
		opts.GOOS, opts.GOARCH = goos, goarch
	}
	plan, err := build.NewPlan(opts)
	if err != nil {
		fail(2, err)
	}
	fmt.Printf("features: %s", strings.Join(sel.Features, ", "))
	if len(sel.Features) == 0 {
		fmt.Print("none (core only)")
	}
	if len(sel.Added) > 0 {
		fmt.Printf(" (added as requirements: %s)", strings.Join(sel.Added, ", "))
	}
	fmt.Println()
	for _, mod := range mods {
		fmt.Printf("module:   %s\n", build.ModuleLine(mod))
	}
	if len(mods) > 0 {
		work, err := build.PrepareModules(ctx, src, plan.Env, mods)
		if err != nil {
			fail(2, err)
		}
		defer work.Close()
		cleanup = work.Close // fail exits, and defers do not run
		plan.Work = work
		if err := build.ReportRaises(os.Stdout, work, *strict); err != nil {
			fail(2, err)
		}
		if *noVerify {
			fmt.Println("verify:   skipped (-no-verify): the modules' conformance tests did not run")
		} else if _, err := build.VerifyModules(ctx, os.Stdout, work, mods, *strict); err != nil {
			fail(2, err)
		}
	}
	fmt.Printf("build:    %s\n", plan.Command())
	size, err := plan.Run(ctx, os.Stderr)
	if err != nil {
		fail(1, err)
	}
	if len(mods) > 0 && plan.Platform() == build.HostPlatform() {
		// The check run navius build makes: the modules' providers start
		// next to navius's and register what their feature files say.
		if err := build.CheckBinary(ctx, plan.Output, m, sel, mods); err != nil {
			os.Remove(plan.Output)
			fail(2, err)
		}
	}
	fmt.Printf("binary:   %s, %s, %s\n", plan.Output, plan.Platform(), build.HumanSize(size))
}

// cleanup, when set, runs before fail exits.
var cleanup func()

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "build:", err)
	if cleanup != nil {
		cleanup()
	}
	os.Exit(code)
}
