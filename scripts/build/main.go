// Command build is what `make build` runs: it resolves FEATURES with the same
// resolver as `navius build` and builds bin/navius static and stripped.
//
//	go run ./scripts/build -features memory,bolt -o bin/navius
//	go run ./scripts/build -features default -tags-only   # print the tags
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
	flag.Parse()

	src, err := build.FindSource(".")
	if err != nil {
		fail(2, err)
	}
	m, err := manifest.Load(src + "/features.json")
	if err != nil {
		fail(2, err)
	}
	sel, err := m.Resolve(*features)
	if err != nil {
		fail(2, fmt.Errorf("FEATURES=%s: %w", *features, err))
	}
	if *tagsOnly {
		fmt.Println(strings.Join(build.Tags(sel), ","))
		return
	}
	warning, err := m.CheckServes(*features, sel)
	if err != nil {
		fail(2, fmt.Errorf("FEATURES=%s: %w", *features, err))
	}
	if warning != "" {
		fmt.Fprintln(os.Stderr, "build: warning:", warning)
	}
	opts := build.Options{Source: src, Selection: sel, Output: *out}
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
	fmt.Printf("\nbuild:    %s\n", plan.Command())
	size, err := plan.Run(context.Background(), os.Stderr)
	if err != nil {
		fail(1, err)
	}
	fmt.Printf("binary:   %s, %s, %s\n", plan.Output, plan.Platform(), build.HumanSize(size))
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "build:", err)
	os.Exit(code)
}
