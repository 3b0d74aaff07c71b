package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// withFlags add provider modules from outside navius's tree to a build.
func withFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.GenericFlag{Name: "with", Value: &cli.Repeated{}, Usage: "build in the provider module `MODULE[@VERSION][=LOCAL_DIR]` (repeatable), after running its conformance test against this tree"},
		&ucli.BoolFlag{Name: "no-verify", Usage: "with --with: build the modules in without running their conformance tests"},
		&ucli.BoolFlag{Name: "strict", Usage: "with --with: refuse a module that navius's harness does not verify (a schema-1 feature file), or that changes the version of a module navius itself uses"},
	}
}

// withGiven are the --with values.
func withGiven(c flagValues) []string { return cli.RepeatedValues(c, "with") }

// addModules loads the --with modules (build.LoadModules: fetched, feature
// files read and checked together) and adds their features to the tree's
// manifest.
func (t *tree) addModules(ctx context.Context, args []string) error {
	mods, merged, err := build.LoadModules(ctx, t.manifest, args)
	if err != nil {
		return cli.Usagef("%v", oneLine(err))
	}
	t.modules, t.manifest = mods, merged
	return nil
}

// withModules puts the modules' features into ch, whatever chose it: a
// --with module is built in with all its features.
func (t *tree) withModules(ch choice) (choice, error) {
	names := build.FeatureNames(t.modules)
	if len(names) == 0 {
		return ch, nil
	}
	spec := manifest.SpecWith(ch.spec, names...)
	sel, err := t.manifest.Resolve(spec)
	if err != nil {
		return ch, cli.Usagef("%s with the --with modules: %v", ch.how, err)
	}
	ch.sel, ch.spec = sel, spec
	ch.how += " and the --with modules"
	return ch, nil
}

// keepUsedModules drops the modules none of whose features sel selects,
// saying so.
func (t *tree) keepUsedModules(w io.Writer, sel manifest.Selection) {
	var kept []*thirdparty.Module
	for _, m := range t.modules {
		if slices.ContainsFunc(m.Features, func(f thirdparty.Feature) bool { return slices.Contains(sel.Features, f.Name) }) {
			kept = append(kept, m)
		} else {
			fmt.Fprintf(w, "module:   %s is left out: the config uses none of its features\n", m.Path)
		}
	}
	t.modules = kept
}

// overrideWith is base's --with arguments with those of over added; an
// argument of over replaces base's for the same module (a --with given on
// the command line wins over a profile's or a --like binary's).
func overrideWith(base, over []string) []string {
	var out []string
	for _, b := range base {
		w, err := thirdparty.ParseWith(b)
		if err == nil && slices.ContainsFunc(over, func(o string) bool {
			ow, err := thirdparty.ParseWith(o)
			return err == nil && ow.Module == w.Module
		}) {
			continue
		}
		out = append(out, b)
	}
	return append(out, over...)
}

// profileWith turns --with arguments into a profile's: a local directory
// inside the source tree is kept relative to the tree's root (so that the
// profile works in any clone), one outside it absolute.
func (t *tree) profileWith(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		w, err := thirdparty.ParseWith(a)
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		if w.Dir != "" {
			abs, err := filepath.Abs(w.Dir)
			if err != nil {
				return nil, err
			}
			w.Dir = abs
			if rel, err := filepath.Rel(t.dir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				w.Dir = "./" + filepath.ToSlash(rel)
			}
		}
		out = append(out, w.String())
	}
	return out, nil
}

// resolvedWork is the workspace resolved before the build when it was
// made for env, else nil.
func (t *tree) resolvedWork(env []string) *build.Work {
	if t.work != nil && slices.Equal(t.workEnv, env) {
		return t.work
	}
	return nil
}

// withArgs are a profile's --with arguments with their relative
// directories made absolute from the tree's root.
func (t *tree) withArgs(p Profile) []string {
	out := make([]string, len(p.With))
	for i, a := range p.With {
		w, err := thirdparty.ParseWith(a)
		if err == nil && w.Dir != "" && !filepath.IsAbs(w.Dir) {
			w.Dir = filepath.Join(t.dir, filepath.FromSlash(w.Dir))
			a = w.String()
		}
		out[i] = a
	}
	return out
}

// likeModules are the --with arguments that rebuild the modules a binary
// carries, found in its build information without running it:
//
//   - a module replaced by a directory: navius's go.mod replaces nothing,
//     so the builder did it for --with MODULE=DIR (the directory must
//     still be there; the binary records it relative to the tree it was
//     built from, read here as relative to this tree);
//   - a module outside the tree's module graph (go.mod, go.sum) whose
//     source, at the binary's version, has a feature file: --with
//     MODULE@VERSION. Other such modules are the modules' own
//     requirements.
//
// A module given with --with (given) is left to that argument.
func (t *tree) likeModules(ctx context.Context, info buildinfo.Info, given []string) ([]string, error) {
	graph, err := t.moduleGraph()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, path := range slices.Sorted(maps.Keys(info.Modules)) {
		version := info.Modules[path]
		if slices.ContainsFunc(given, func(a string) bool { w, err := thirdparty.ParseWith(a); return err == nil && w.Module == path }) {
			continue
		}
		if dir, ok := info.Replaced[path]; ok && !strings.Contains(dir, "@") {
			if !filepath.IsAbs(dir) { // recorded relative to the tree it was built from
				dir = filepath.Join(t.dir, filepath.FromSlash(dir))
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("it carries module %s from directory %s, which is not here: give the module's directory with --with %s=DIR", path, dir, path)
			}
			out = append(out, path+"="+dir)
			continue
		}
		if graph[path] || path == build.Module {
			continue
		}
		dir, _, err := thirdparty.With{Module: path, Version: version}.Fetch(ctx, "go", nil)
		if err != nil {
			return nil, fmt.Errorf("it links module %s %s, which navius does not require, and its source can't be read to tell whether it is a provider module (%v): give it with --with, or make it reachable", path, version, err)
		}
		if _, err := os.Stat(filepath.Join(dir, thirdparty.FileName)); err == nil {
			out = append(out, path+"@"+version)
		}
	}
	return out, nil
}

// moduleGraph is the set of module paths the tree's go.mod and go.sum name.
func (t *tree) moduleGraph() (map[string]bool, error) {
	graph := map[string]bool{}
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(t.dir, name))
		if err != nil && !(name == "go.sum" && errors.Is(err, fs.ErrNotExist)) {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
			if len(f) >= 2 && strings.Contains(f[0], ".") {
				graph[f[0]] = true
			}
		}
	}
	return graph, nil
}

// prepareModules makes the workspace of the --with modules (nil without
// any), says which of navius's dependencies they raise (refused with
// --strict), and verifies them in it, or says that --no-verify skipped
// that. Close the workspace after the build, unless it is t.work, made
// before the build by builder serve, which closes it.
func (t *tree) prepareModules(ctx context.Context, w io.Writer, env []string) (*build.Work, error) {
	if work := t.resolvedWork(env); work != nil {
		fmt.Fprintln(w, "module:   resolved before the build (builder serve), modules and raises reported there")
		return work, nil
	}
	for _, m := range t.modules {
		fmt.Fprintf(w, "module:   %s\n", build.ModuleLine(m))
	}
	if len(t.modules) == 0 {
		return nil, nil
	}
	work, err := build.PrepareModules(ctx, t.dir, env, t.modules)
	if err != nil {
		return nil, cli.Usagef("%v", oneLine(err))
	}
	fail := func(err error) (*build.Work, error) {
		work.Close()
		return nil, cli.Usagef("%v", oneLine(err))
	}
	if err := build.ReportRaises(w, work, t.strict); err != nil {
		return fail(err)
	}
	if t.skipVerify {
		fmt.Fprintln(w, "verify:   skipped (--no-verify): the modules' conformance tests did not run; they are built in unchecked")
		return work, nil
	}
	if t.verified {
		fmt.Fprintln(w, "verify:   done before this build (builder serve verifies each catalog module once, before its first build)")
		return work, nil
	}
	if _, err := build.VerifyModules(ctx, w, work, t.modules, t.strict); err != nil {
		return fail(err)
	}
	return work, nil
}
