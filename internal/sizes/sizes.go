// Package sizes measures what each feature adds to a stripped, static navius
// binary, keeps those figures in features.json and docs/SIZES.md, and checks
// builds against size budgets. scripts/sizes (make sizes, make size-check)
// drives it.
package sizes

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// Version is stamped into every measured build, so that figures do not
// depend on the commit being measured.
const Version = "v0.0.0-size"

// Builder builds navius selections into a directory, once per tag set.
type Builder struct {
	Source   string
	Manifest *manifest.Manifest
	Dir      string
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
	// Modules are --with modules whose features the manifest holds
	// (make sizes WITH=...); a selection with their features builds them in.
	Modules []*thirdparty.Module
	built   map[string]string
}

// NewBuilder returns a builder writing into a fresh temporary directory.
func NewBuilder(source string, m *manifest.Manifest) (*Builder, error) {
	dir, err := os.MkdirTemp("", "navius-sizes-")
	if err != nil {
		return nil, err
	}
	return &Builder{Source: source, Manifest: m, Dir: dir, built: map[string]string{}}, nil
}

// Close removes the builds.
func (b *Builder) Close() error { return os.RemoveAll(b.Dir) }

func (b *Builder) logf(format string, args ...any) {
	if b.Log != nil {
		b.Log(format, args...)
	}
}

// Build builds the selection (stripped unless debug is set) and returns the
// binary's path.
func (b *Builder) Build(ctx context.Context, sel manifest.Selection, debug bool) (string, error) {
	key := sel.TagString()
	var mods []*thirdparty.Module
	if len(sel.External) > 0 { // no tags: their names tell the builds apart
		key += "+" + strings.Join(sel.External, "+")
		mods = b.Modules
	}
	if debug {
		key += "+debug"
	}
	if p, ok := b.built[key]; ok {
		return p, nil
	}
	out := filepath.Join(b.Dir, "navius-"+strings.NewReplacer(",", "-", "+", "-").Replace(key))
	plan, err := build.NewPlan(build.Options{Source: b.Source, Selection: sel, Output: out, Version: Version, Modules: mods})
	if err != nil {
		return "", err
	}
	if debug { // keep the symbol table for per-module attribution
		for i, a := range plan.Args {
			if a == "-ldflags" {
				plan.Args[i+1] = strings.Replace(plan.Args[i+1], "-s -w ", "", 1)
			}
		}
	}
	b.logf("building %s", key)
	var log bytes.Buffer
	if _, err := plan.Run(ctx, &log); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	b.built[key] = out
	return out, nil
}

// Size builds the selection stripped and returns its size in bytes.
func (b *Builder) Size(ctx context.Context, sel manifest.Selection) (int64, error) {
	p, err := b.Build(ctx, sel, false)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Selection resolves a FEATURES string.
func (b *Builder) Selection(spec string) (manifest.Selection, error) {
	return b.Manifest.Resolve(spec)
}

// Measurement is one feature's measured impact.
type Measurement struct {
	Feature string
	// Base is the build of the feature's requirements alone; With adds the
	// feature.
	Base, With int64
}

// Impact is With - Base.
func (m Measurement) Impact() int64 { return m.With - m.Base }

// Report holds the results of MeasureAll.
type Report struct {
	Core     int64 // the build with no feature
	Default  int64
	All      int64
	Features []Measurement
}

// MeasureAll builds, for every feature, its requirements alone and its
// requirements plus the feature, and the core, default and all builds.
func (b *Builder) MeasureAll(ctx context.Context) (Report, error) {
	var r Report
	var err error
	size := func(spec string) int64 {
		if err != nil {
			return 0
		}
		var sel manifest.Selection
		if sel, err = b.Manifest.Resolve(spec); err != nil {
			return 0
		}
		var n int64
		n, err = b.Size(ctx, sel)
		return n
	}
	r.Core = size("none")
	r.Default = size("default")
	r.All = size("all")
	if err != nil {
		return r, err
	}
	r.Features, err = b.Measure(ctx, b.Manifest.Names())
	return r, err
}

// Measure builds, for each named feature, its requirements alone and its
// requirements plus the feature.
func (b *Builder) Measure(ctx context.Context, names []string) ([]Measurement, error) {
	var out []Measurement
	for _, f := range b.Manifest.Features {
		if !slices.Contains(names, f.Name) {
			continue
		}
		base, err := b.Manifest.Resolve("none," + strings.Join(b.Manifest.Closure(f.Requires), ","))
		if err != nil {
			return nil, err
		}
		with, err := b.Manifest.Resolve("none," + f.Name)
		if err != nil {
			return nil, err
		}
		m := Measurement{Feature: f.Name}
		if m.Base, err = b.Size(ctx, base); err != nil {
			return nil, err
		}
		if m.With, err = b.Size(ctx, with); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Apply records the report in the manifest (core and feature size_impact).
func (r Report) Apply(m *manifest.Manifest) {
	core := r.Core
	m.Core.SizeImpact = &core
	for _, fm := range r.Features {
		if f := m.Feature(fm.Feature); f != nil {
			impact := fm.Impact()
			f.SizeImpact = &impact
		}
	}
}

// ModuleBytes attributes the symbols of an unstripped binary to the modules
// that define them ("std" for the standard library, "runtime data" for what
// no package owns) and returns bytes per module.
func ModuleBytes(ctx context.Context, bin string) (map[string]int64, error) {
	mods, err := linkedModules(ctx, bin)
	if err != nil {
		return nil, err
	}
	sort.Slice(mods, func(i, j int) bool { return len(mods[i]) > len(mods[j]) }) // longest prefix first
	out, err := exec.CommandContext(ctx, "go", "tool", "nm", "-size", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool nm %s: %w", bin, err)
	}
	bytesBy := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// address size type name
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || n == 0 {
			continue
		}
		bytesBy[owner(strings.Join(f[3:], " "), mods)] += n
	}
	return bytesBy, sc.Err()
}

func owner(sym string, mods []string) string {
	sym = strings.TrimPrefix(sym, "type:")
	sym = strings.TrimPrefix(sym, "go:")
	sym = strings.TrimLeft(sym, "*[]")
	for _, m := range mods {
		if strings.HasPrefix(sym, m+"/") || strings.HasPrefix(sym, m+".") {
			return m
		}
	}
	// A standard library path has no dot in its first element:
	// "runtime.mallocgc", "net/http.(*Server).Serve".
	first, _, slash := strings.Cut(sym, "/")
	if !slash {
		first, _, _ = strings.Cut(sym, ".")
	}
	if !strings.Contains(first, ".") {
		return "std"
	}
	return "runtime data"
}

// linkedModules lists the module paths go version -m reports for bin,
// including navius's own.
func linkedModules(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("go version -m %s: %w", bin, err)
	}
	var mods []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "dep" || f[0] == "mod") {
			mods = append(mods, f[1])
		}
	}
	return mods, nil
}
