package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/suggest"
)

func buildCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:      "build",
		Usage:     "build a navius binary with chosen features",
		ArgsUsage: "[-- extra go build flags]",
		Description: "Choose the features with --features, --profile, --interactive, --like (the features of\n" +
			"another navius binary) or --from-config (those a config file uses); with none, the defaults.\n" +
			"--with adds provider modules from outside navius, each verified by its conformance test\n" +
			"first, without changing the source tree. The build is static, -trimpath and stripped, with\n" +
			"the version stamped — the same build make build runs; only -race, -msan or -asan after --\n" +
			"turn cgo on, which they need.",
		Flags: append(chooseFlags(),
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the binary into `DIR` (default: bin/ at the source tree's root, or in the working directory when navius is fetched), named navius-<profile or feature hash>[-<goos>-<goarch>]"},
			&ucli.StringFlag{Name: "target", Usage: "cross-compile for `GOOS/GOARCH`, e.g. linux/arm64 (default: this machine, or with --like the other binary's platform)"},
			sourceFlag, naviusFlag,
		),
		Action: func(c *ucli.Context) error { return runBuild(c, env) },
	}
}

func runBuild(c *ucli.Context, env *cli.Env) error {
	ctx := c.Context
	t, err := openSource(ctx, env.Stdout, c)
	if err != nil {
		return err
	}
	goos, goarch, err := target(c)
	if err != nil {
		return err
	}
	extra := c.Args().Slice()
	if err := checkExtra(extra); err != nil {
		return err
	}
	if flag := build.CgoFlag(extra); flag != "" {
		// Up front, before modules are verified or anything is built.
		if err := requireGo(); err != nil {
			return err
		}
		if err := build.CheckCC(ctx, flag); err != nil {
			return cli.Usagef("build: %v", err)
		}
	}
	offerSave := t.offerSave
	if t.fetched != nil {
		offerSave = nil // profiles are saved in a source tree; the module cache is read-only
	}
	ch, err := t.choose(ctx, c, env, offerSave)
	if errors.Is(err, errCancelled) {
		fmt.Fprintln(env.Stdout, "cancelled; nothing was built")
		return nil
	}
	if err != nil {
		return err
	}
	if ch.platform != "" && ch.platform != build.HostPlatform() && !c.IsSet("target") {
		// A binary of another platform is rebuilt for its platform.
		goos, goarch, _ = strings.Cut(ch.platform, "/")
		fmt.Fprintf(env.Stdout, "target:   %s, the platform of %s (--target overrides)\n", ch.platform, c.String("like"))
	}
	if err := requireGo(); err != nil {
		return err
	}
	if len(t.modules) > 0 {
		remove, err := t.copyFetched(env.Stdout)
		if err != nil {
			return err
		}
		defer remove()
	}
	out, err := t.build(ctx, env.Stdout, env.Stderr, ch, t.outputDir(c.String("output")), goos, goarch, extra)
	if err != nil {
		return err
	}
	switch {
	case c.IsSet("from-config"):
		return checkBuiltConfig(ctx, env.Stdout, env, out, c.String("from-config"), goos, goarch)
	case c.Bool("interactive") && isHost(goos, goarch):
		return checkConfig(ctx, env.Stdout, env, out, "")
	}
	return nil
}

// chooseFlags are the flags that choose a selection (selectionSources and
// the modules), which build and profile save share.
func chooseFlags() []ucli.Flag {
	return append(append(selectionFlags(),
		&ucli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "choose features at a prompt (answers may be piped on stdin)"},
		&ucli.StringFlag{Name: "like", Usage: "the features (and --with modules) of the navius binary at `PATH`, of any platform (read from its Go build information, without running it)"},
		&ucli.StringFlag{Name: "from-config", Usage: "exactly the features the config `FILE` uses, with the NAVIUS_* variables over it as serve reads them (its URL schemes and the sections it sets; a section that only sets <feature>.enabled false leaves the feature out)"},
	), withFlags()...)
}

// flagValues are a command's flags: a *ucli.Context, or args for a command
// whose flags may follow its argument.
type flagValues interface {
	String(name string) string
	Generic(name string) any
	Bool(name string) bool
	IsSet(name string) bool
}

// selectionSources are the flags that choose features, for build and
// profile save alike.
var selectionSources = []string{"features", "profile", "interactive", "like", "from-config"}

// errCancelled is the interactive walk's "quit": not a failure.
var errCancelled = errors.New("cancelled")

// choose turns the selection flags (selectionSources and --with) into a
// choice: the features and the modules, with the tool-only check made.
// afterWalk, when not nil, runs after an interactive walk (build offers to
// save the selection as a profile) and names the profile it saved.
func (t *tree) choose(ctx context.Context, c flagValues, env *cli.Env, afterWalk func(*bufio.Scanner, io.Writer, manifest.Selection) (string, error)) (choice, error) {
	modes := 0
	for _, f := range selectionSources {
		if c.IsSet(f) {
			modes++
		}
	}
	if modes > 1 {
		return choice{}, cli.Usagef("choose the features one way: --features, --profile, --interactive, --like or --from-config")
	}
	if c.Bool("no-verify") && !c.IsSet("with") && !c.IsSet("profile") && !c.IsSet("like") {
		return choice{}, cli.Usagef("--no-verify goes with --with (it skips the modules' conformance tests)")
	}
	// The modules come first: the selection may name their features.
	with := withGiven(c)
	var likeFeatures []string
	var likeHow, likePlatform string
	switch {
	case c.IsSet("like"):
		var likeWith []string
		var err error
		if likeFeatures, likeWith, likeHow, likePlatform, err = t.like(ctx, c.String("like"), with); err != nil {
			return choice{}, err
		}
		if len(likeWith) > 0 {
			likeHow += ", and the modules from outside navius it carries from its dependencies: " + strings.Join(likeWith, ", ")
		}
		with = overrideWith(likeWith, with)
	case c.IsSet("profile"):
		if prof, err := t.loadProfile(c.String("profile")); err == nil {
			with = overrideWith(t.withArgs(prof), with)
		}
	}
	t.skipVerify = c.Bool("no-verify")
	t.strict = c.Bool("strict")
	if err := t.addModules(ctx, with); err != nil {
		return choice{}, err
	}
	ch, ok, err := t.resolve(c, "build")
	switch {
	case err != nil:
		return choice{}, err
	case c.IsSet("from-config"):
		if ch, err = t.fromConfig(env.Stdout, c.String("from-config"), env.Environ); err != nil {
			return choice{}, err
		}
	case c.Bool("interactive"):
		sc := bufio.NewScanner(env.Stdin)
		sel, err := interactive(sc, env.Stdout, t.manifest)
		if err != nil {
			return choice{}, err
		}
		// The walk refused a selection without a database unless told
		// "done": what it builds is deliberate.
		ch = choice{sel: sel, how: "interactive selection", spec: "none," + strings.Join(sel.Features, ",")}
		if afterWalk != nil {
			if ch.profile, err = afterWalk(sc, env.Stdout, sel); err != nil {
				return choice{}, err
			}
		}
	case c.IsSet("like"):
		sel, err := t.manifest.Resolve("none," + strings.Join(likeFeatures, ","))
		if err != nil {
			return choice{}, cli.Usagef("--like %s: %v", c.String("like"), err)
		}
		fmt.Fprintf(env.Stdout, "like:     %s: features read from %s\n", c.String("like"), likeHow)
		// What another binary carries is built as it is (with a warning
		// if it is tool-only).
		ch = choice{sel: sel, how: "the features of " + c.String("like"), spec: "none," + strings.Join(sel.Features, ","), platform: likePlatform}
	case !ok:
		ch = t.defaults()
	}
	if c.IsSet("from-config") {
		// The modules offer features; the config chooses among them.
		t.keepUsedModules(env.Stdout, ch.sel)
	} else if ch, err = t.withModules(ch); err != nil {
		return choice{}, err
	}
	return ch, t.checkServes(env.Stdout, ch)
}

// outputDir is --output; its default, bin, is the tree's bin/ wherever the
// builder runs (as make build's bin/navius), or the working directory's
// bin/ when navius was fetched (the module cache is read-only); a relative
// --output is relative to the working directory.
func (t *tree) outputDir(flag string) string {
	if flag == "" && t.fetched != nil {
		return "bin"
	}
	if flag == "" {
		return filepath.Join(t.dir, "bin")
	}
	return flag
}

// builderFlags are go build flags the builder sets itself; passing them
// again would silently change the binary's path, its features, or drop the
// stripping and version stamp.
var builderFlags = map[string]string{
	"o":       "choose the directory with --output",
	"tags":    "choose the features with --features, --profile, --interactive or --like",
	"ldflags": "the builder strips and stamps the version with -ldflags; run go build yourself for other linker flags",
}

// checkExtra accepts the go build flags given after "--": they must be
// flags (the package is always the source tree's main package), and not
// the ones the builder sets.
func checkExtra(extra []string) error {
	if len(extra) == 0 {
		return nil
	}
	if !strings.HasPrefix(extra[0], "-") {
		return cli.Usagef("build: unexpected argument %q; extra go build flags go after --, e.g. navius build --features memory -- -race", extra[0])
	}
	for _, a := range extra {
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if why, ok := builderFlags[name]; ok {
			return cli.Usagef("build: go build flag %s is set by navius build: %s", a, why)
		}
	}
	return nil
}

// like reads which features, and which --with modules, another navius
// binary carries, and its platform (GOOS/GOARCH), and says how it found
// out.
func (t *tree) like(ctx context.Context, path string, given []string) (features, with []string, how, platform string, err error) {
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return nil, nil, "", "", cli.Usagef("--like %s: no such binary", path)
	}
	features, how, err = t.binaryFeatures(ctx, path)
	if err != nil {
		return nil, nil, "", "", cli.Usagef("--like %s: %v", path, oneLine(err))
	}
	info, _ := buildinfo.ReadFile(path) // read by binaryFeatures already
	if with, err = t.likeModules(ctx, info, given); err != nil {
		return nil, nil, "", "", cli.Usagef("--like %s: %v", path, err)
	}
	return features, with, how, info.Platform, nil
}

// binaryFeatures tells which features the navius binary at path carries.
// It reads the binary's build information (internal/buildinfo: the -tags
// setting, checked against the linked modules) without running it, so a
// binary for any platform will do. Only when the two disagree (a binary
// built from another features.json, say) and the binary runs on this
// machine does it ask the binary itself (--features --json). how says which
// source settled it.
func (t *tree) binaryFeatures(ctx context.Context, path string) (features []string, how string, err error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("not a navius binary: it carries no Go build information (%v)", err)
	}
	if _, dep := info.Modules[build.Module]; info.Main != build.Module && !dep {
		return nil, "", fmt.Errorf("not a navius binary: a Go program of module %s", info.Main)
	}
	features = t.manifest.FeaturesFromTags(info.Tags)
	disagree := t.manifest.CheckModules(features, info.Modules)
	if disagree == nil {
		return features, fmt.Sprintf("its build information (tags %q), without running it", strings.Join(info.Tags, ",")), nil
	}
	if info.Platform != build.HostPlatform() {
		return nil, "", fmt.Errorf("its build information (tags %q) disagrees with this source tree's features.json (%v), and a %s binary cannot run here to be asked",
			strings.Join(info.Tags, ","), disagree, info.Platform)
	}
	f, err := factsOf(ctx, path)
	if err != nil {
		return nil, "", fmt.Errorf("not a navius binary that reports its features (%v)", oneLine(err))
	}
	return f.Report.Names(), fmt.Sprintf("asking it (--features --json), since its build information disagrees with features.json: %v", disagree), nil
}

// build runs a build with progress on w and returns the binary's path. The
// binary goes into outDir under a name that carries the feature set and,
// when cross-compiling, the platform; it never replaces the running tool.
func (t *tree) build(ctx context.Context, w, goOut io.Writer, ch choice, outDir, goos, goarch string, extra []string) (string, error) {
	sel := ch.sel
	out, err := filepath.Abs(filepath.Join(outDir, artifactName(t.label(ch), goos, goarch)))
	if err != nil {
		return "", err
	}
	if err := refuseSelf(out, outDir); err != nil {
		return "", err
	}
	plan, err := build.NewPlan(build.Options{Source: t.dir, Fetched: t.fetched, Selection: sel, Output: out, GOOS: goos, GOARCH: goarch, ExtraArgs: extra, Modules: t.modules})
	if err != nil {
		return "", err
	}
	names := strings.Join(sel.Features, ", ")
	if names == "" {
		names = "none (the core alone)"
	}
	fmt.Fprintf(w, "features: %s (from %s)\n", names, ch.how)
	if len(sel.Added) > 0 {
		fmt.Fprintf(w, "          added as requirements: %s\n", strings.Join(sel.Added, ", "))
	}
	if plan.Cgo != "" {
		fmt.Fprintf(w, "cgo on:   %s needs it; the binary is not static\n", plan.Cgo)
	}
	work, err := t.prepareModules(ctx, w, plan.Env)
	if err != nil {
		return "", err
	}
	if work != nil {
		if work != t.work { // one resolved before the build is its resolver's to close
			defer work.Close()
		}
		plan.Work = work
	}
	fmt.Fprintf(w, "command:  %s\n", plan.Command())
	fmt.Fprintf(w, "[1/3] compiling navius %s for %s in %s\n", plan.Version, plan.Platform(), t.dir)
	size, err := plan.Run(ctx, goOut)
	if err != nil {
		return "", err
	}
	if isHost(goos, goarch) {
		fmt.Fprintln(w, "[2/3] checking that the binary reports the selected features")
		if err := t.checkBinary(ctx, out, sel); err != nil {
			// A binary that failed its check is not left for use.
			_ = os.Remove(out)
			return "", err
		}
	} else {
		fmt.Fprintf(w, "[2/3] not running the %s binary on this %s machine\n", plan.Platform(), build.HostPlatform())
	}
	rel := out
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, out); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Fprintf(w, "[3/3] done: %s, %s\n", rel, build.HumanSize(size))
	return out, nil
}

// checkBinary runs the built binary and holds what it reports to the
// selection. With --with modules, a failure is the modules' (a provider
// whose init panics, a feature file that disagrees with its package), so it
// is refused as bad input.
func (t *tree) checkBinary(ctx context.Context, bin string, sel manifest.Selection) error {
	err := build.CheckBinary(ctx, bin, t.manifest, sel, t.modules)
	if err != nil && len(t.modules) > 0 {
		var paths []string
		for _, m := range t.modules {
			paths = append(paths, m.Path)
		}
		return cli.Usagef("%v (the binary carries --with %s: the binary is removed; fix the module or build without it)", oneLine(err), strings.Join(paths, ", "))
	}
	return err
}

// interactive lets the user choose features, starting from the defaults.
// It walks the categories one at a time, as the seed's builder does: each
// shows its features as [x]/[ ] with their size and requirements and asks
// for names to toggle (comma or space separated; +name selects, -name
// deselects). Each toggle is echoed, or refused with its reason (unknown,
// or a deselection a selected feature requires), and the walk stays at the
// category: only an empty answer goes on to the next one; "back" returns to
// the previous one. After the last category it shows the selection and
// asks once more: an empty answer or "done" builds, names still toggle.
// "done" finishes at any prompt, and so does the end of input; "quit"
// cancels once confirmed (errCancelled). Lines come from sc, so a terminal
// and piped answers work alike.
func interactive(sc *bufio.Scanner, out io.Writer, m *manifest.Manifest) (manifest.Selection, error) {
	selected := map[string]bool{}
	for _, n := range m.Defaults() {
		selected[n] = true
	}
	cats := m.Categories()
	width := termWidth(out)
	fmt.Fprintf(out, "Choose the features, one category at a time (%s), starting from the defaults.\n"+
		"Type feature names to toggle them (+name selects, -name deselects), an empty line for the next\n"+
		"category, \"back\" for the previous one, \"list\" to show everything, \"done\" to build, \"quit\" to cancel.\n",
		strings.Join(cats, ", "))
	// step is the category shown, len(cats) the final review.
	step, shown := 0, -1
	for {
		prompt := "build? (Enter or done builds, names toggle, back returns to the categories)> "
		if step < len(cats) {
			prompt = cats[step] + "> "
		}
		if step != shown {
			if step < len(cats) {
				fmt.Fprintf(out, "\n[%s] (%d of %d)\n%s", cats[step], step+1, len(cats), categoryLines(m, cats[step], selected, width))
			} else {
				fmt.Fprintf(out, "\nYour selection:\n%s", catalogLines(m, selected, "", width))
				if problem := cannotServe(m, selected); problem != "" {
					fmt.Fprintf(out, "  ! %s: select one, or type done to build a tool-only binary anyway\n", problem)
				}
			}
			shown = step
		}
		fmt.Fprint(out, prompt)
		if !sc.Scan() {
			fmt.Fprintln(out)
			break
		}
		words := strings.FieldsFunc(sc.Text(), func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		if len(words) == 0 {
			if step < len(cats) {
				step++
				continue
			}
			if problem := cannotServe(m, selected); problem != "" {
				fmt.Fprintf(out, "  ! not built: %s; select one, or type done to build a tool-only binary anyway\n", problem)
				continue
			}
			return finish(m, selected)
		}
		for _, word := range words {
			switch strings.ToLower(word) {
			case "done":
				return finish(m, selected)
			case "quit", "exit":
				// Confirmed, it is not a failure: exit 0. The end of
				// input confirms too.
				fmt.Fprint(out, "quit without building? (y/N)> ")
				if !sc.Scan() || strings.HasPrefix(strings.ToLower(strings.TrimSpace(sc.Text())), "y") {
					return manifest.Selection{}, errCancelled
				}
				shown = -1
			case "list":
				fmt.Fprint(out, catalogLines(m, selected, "", width))
			case "back":
				if step > 0 {
					step--
				}
				shown = -1
			default:
				// Each toggle is echoed; the walk stays at the category
				// until an empty answer.
				if toggle(out, m, selected, strings.ToLower(word)) && step == len(cats) {
					shown = -1 // show the changed selection
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return manifest.Selection{}, err
	}
	return finish(m, selected)
}

// cannotServe says why a server of the selection could not start, or "".
func cannotServe(m *manifest.Manifest, selected map[string]bool) string {
	if len(m.ProvidersOf(selectedNames(selected), "database")) > 0 {
		return ""
	}
	return fmt.Sprintf("nothing selected provides a database (%s would), so serve would fail at start",
		strings.Join(m.ProvidersOf(m.Names(), "database"), ", "))
}

// categoryLines renders one category's features for the walk.
func categoryLines(m *manifest.Manifest, category string, selected map[string]bool, width int) string {
	_, body, _ := strings.Cut(catalogLines(m, selected, category, width), "\n")
	return body
}

// toggle applies one name and reports whether it was accepted.
func toggle(out io.Writer, m *manifest.Manifest, selected map[string]bool, word string) bool {
	name := strings.TrimLeft(word, "+-")
	want := !selected[name]
	switch {
	case strings.HasPrefix(word, "+"):
		want = true
	case strings.HasPrefix(word, "-"):
		want = false
	}
	f := m.Feature(name)
	if f == nil {
		msg := fmt.Sprintf("  ! unknown feature %q", name)
		if s := suggest.Closest(name, m.Names()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		fmt.Fprintln(out, msg)
		return false
	}
	if want {
		var added []string
		for _, r := range m.Closure([]string{name}) {
			if !selected[r] && r != name {
				added = append(added, r)
			}
			selected[r] = true
		}
		fmt.Fprintf(out, "  [x] %s", name)
		if len(added) > 0 {
			fmt.Fprintf(out, " (and %s, which it requires)", strings.Join(added, ", "))
		}
		fmt.Fprintln(out)
		return true
	}
	if by := m.RequiredBy(name, selectedNames(selected)); len(by) > 0 {
		fmt.Fprintf(out, "  ! cannot deselect %s: required by %s; deselect %s first\n", name, strings.Join(by, ", "), strings.Join(by, ", "))
		return false
	}
	delete(selected, name)
	fmt.Fprintf(out, "  [ ] %s\n", name)
	return true
}

// finish resolves the selection (a tool-only one gets its warning from
// the build, as every tool-only build does).
func finish(m *manifest.Manifest, selected map[string]bool) (manifest.Selection, error) {
	return m.Resolve("none," + strings.Join(selectedNames(selected), ","))
}

func selectedNames(selected map[string]bool) []string {
	var names []string
	for n, on := range selected {
		if on {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
