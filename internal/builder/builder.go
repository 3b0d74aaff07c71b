// Package builder is the builder feature's command line: the feature
// catalog, builds of chosen features (by list, profile, interactive choice or
// like another binary), profiles, reproducible release packages and
// generated documentation. It drives the Go toolchain against a navius source
// tree through internal/build, the same code `make build` runs, and resolves
// features with the one resolver in internal/manifest.
package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// Commands returns the builder's commands, for cli.Register.
func Commands(env *cli.Env) []*ucli.Command {
	// Completion offers the profiles of the tree here, else the shipped.
	profileNames := func() []string {
		if t, err := openTree(noFlags{}); err == nil {
			return t.profileNames()
		}
		return shippedProfiles
	}
	for _, name := range []string{"profile", "profile show", "profile delete"} {
		cli.RegisterValues(name, profileNames)
	}
	return append(cli.CompletionCommands(env),
		featuresCommand(env),
		buildCommand(env),
		profileCommand(env),
		packageCommand(env),
		docsCommand(env),
		sbomCommand(env),
		builderCommand(env),
		moduleCommand(env),
	)
}

var sourceFlag = &ucli.StringFlag{Name: "source", Usage: "navius source tree `DIR` (default: the nearest directory upward holding features.json)"}

// naviusFlag builds navius fetched through the Go module proxy, without a
// source tree (openSource).
var naviusFlag = &ucli.StringFlag{Name: "navius", Usage: "build navius `VERSION` (or latest), fetched through the Go module proxy into the module cache, instead of a source tree (default outside a source tree: this binary's version)"}

// tree is a navius source tree and its manifest: features.json, plus the
// features of the --with modules the command builds in.
type tree struct {
	dir      string
	manifest *manifest.Manifest
	// modules are the --with modules (addModules); skipVerify is
	// --no-verify.
	modules    []*thirdparty.Module
	skipVerify bool
	// strict: --strict (build.VerifyModules, build.CheckUpgrades).
	strict bool
	// verified: builder serve verified the modules before the build.
	verified bool
	// work, when set, is the modules' workspace builder serve resolved
	// before the build, with the go environment workEnv: a build for that
	// environment uses it rather than making its own.
	work    *build.Work
	workEnv []string
	// fetched, when set, is what dir is: navius at a version in the Go
	// module cache, which is read-only and no git checkout.
	fetched *build.Fetched
}

// version is the navius version the tree builds: the fetched version, or
// what git says of the checkout.
func (t *tree) version() string {
	if t.fetched != nil {
		return t.fetched.Version
	}
	return build.GitVersion(t.dir)
}

// revision is the commit the tree builds, "" when unknown.
func (t *tree) revision() string {
	if t.fetched != nil {
		return t.fetched.Revision
	}
	return t.git("rev-parse", "HEAD")
}

// openTree finds the source tree (--source, else upward from the working
// directory) and loads its features.json.
func openTree(flags interface{ String(string) string }) (*tree, error) {
	given := flags.String("source")
	dir := given
	var err error
	if dir == "" {
		if dir, err = build.FindSource("."); err != nil {
			return nil, cli.Usagef("%v, or get the source: %s", err, sourceHint())
		}
	} else if dir, err = build.FindSource(dir); err != nil || !sameDir(dir, given) {
		return nil, cli.Usagef("--source %s is not a navius source tree (no features.json and go.mod there)", given)
	}
	m, err := manifest.Load(filepath.Join(dir, "features.json"))
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return &tree{dir: dir, manifest: m}, nil
}

// openSource is openTree for the commands that build (build, package,
// docs, builder serve): the source tree, else, or with --navius VERSION,
// navius at this binary's version (or VERSION) fetched through the Go
// module proxy settings in force into the module cache (build.Fetch). It
// says on w which source that is. Without a tree it fails in one line,
// naming --source and --navius, when this binary is a development build
// or the proxy does not have its version.
func openSource(ctx context.Context, w io.Writer, flags interface{ String(string) string }) (*tree, error) {
	asked := flags.String("navius")
	if asked == "" {
		if _, err := build.FindSource("."); err == nil || flags.String("source") != "" {
			return openTree(flags)
		}
	} else if flags.String("source") != "" {
		return nil, cli.Usagef("give --source (a navius checkout) or --navius (a version to fetch), not both")
	}
	if err := requireGo(); err != nil {
		return nil, err
	}
	version := asked
	if version == "" {
		info := buildinfo.Read()
		main := ""
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == build.Module {
			main = bi.Main.Version
		}
		if version = build.ModuleVersion(main, buildinfo.Version); version == "" {
			return nil, cli.Usagef("%s, and this navius is a development build (version %s), which no module proxy serves: pass --source DIR (a checkout: %s), or --navius VERSION to fetch a released navius",
				noTreeHere(), info.Version, sourceHint())
		}
	}
	f, err := build.Fetch(ctx, version)
	var fe *build.FetchError
	switch {
	case errors.As(err, &fe) && asked != "":
		return nil, cli.Usagef("--navius %s: not available %s: give a version the proxy has (go list -m -versions %s lists them), set GOPROXY to a proxy that has it, or build from a checkout with --source DIR",
			asked, fe.Through(), build.Module)
	case errors.As(err, &fe):
		return nil, cli.Usagef("%s, and navius %s (this binary's version) is not available %s: pass --source DIR (a checkout: %s), or --navius VERSION with a version the proxy has (go list -m -versions %s lists them)",
			noTreeHere(), fe.Version, fe.Through(), sourceHint(), build.Module)
	case err != nil:
		return nil, cli.Usagef("%v", err)
	}
	m, err := manifest.Load(filepath.Join(f.Dir, "features.json"))
	if err != nil {
		return nil, cli.Usagef("navius %s from the module proxy: %v", f.Version, err)
	}
	fmt.Fprintf(w, "navius source: %s\n", f.Label())
	return &tree{dir: f.Dir, manifest: m, fetched: f}, nil
}

// copyFetched moves the build of a fetched navius out of the module cache,
// into a copy in a temporary directory, for builds with --with modules:
// their generated files go into go's -overlay, which may not replace files
// under GOMODCACHE. It says so on w; remove deletes the copy. For a
// checkout it does nothing.
func (t *tree) copyFetched(w io.Writer) (remove func(), err error) {
	if t.fetched == nil || t.dir != t.fetched.Dir {
		return func() {}, nil
	}
	tmp, err := os.MkdirTemp("", "navius-source-")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "navius")
	if err := os.CopyFS(dir, os.DirFS(t.fetched.Dir)); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("copying navius %s out of the module cache: %v", t.fetched.Version, err)
	}
	fmt.Fprintf(w, "navius source: copied to %s (go may not overlay files in the module cache, which the modules need)\n", dir)
	t.dir = dir
	return func() { os.RemoveAll(tmp) }, nil
}

// noTreeHere says that no source tree is at or above the working
// directory.
func noTreeHere() string {
	wd, _ := filepath.Abs(".")
	return "no navius source tree (a directory with features.json and go.mod) at or above " + wd
}

// noFlags are no flags: openTree then looks upward from the working
// directory.
type noFlags struct{}

func (noFlags) String(string) string { return "" }

// sourceHint says how to get the source tree this binary was built from.
func sourceHint() string {
	hint := "git clone https://" + build.Module
	if rev := buildinfo.Read().Revision; rev != "" {
		hint += " && git -C navius checkout " + rev + " (this binary's revision)"
	}
	return hint
}

func sameDir(a, b string) bool {
	aa, _ := filepath.Abs(a)
	bb, _ := filepath.Abs(b)
	return aa == bb
}

// requireGo fails in one line when the Go toolchain is missing.
func requireGo() error {
	if _, err := exec.LookPath("go"); err != nil {
		return cli.Usagef("the Go toolchain is not on PATH: install Go 1.26 or later (https://go.dev/dl/) to build navius")
	}
	return nil
}

// selectionFlags choose what to build: a FEATURES list or a profile.
func selectionFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "features", Aliases: []string{"f"}, Usage: "features to build, as make build takes them: `LIST` of names and the words default, all, none; -name removes"},
		&ucli.StringFlag{Name: "profile", Aliases: []string{"p"}, Usage: "build the features of profile `NAME` (profiles/NAME.json)"},
	}
}

// resolve turns --features or --profile into a selection (command names
// the command in messages); with neither it returns ok false.
func (t *tree) resolve(c flagValues, command string) (ch choice, ok bool, err error) {
	f, p := c.String("features"), c.String("profile")
	switch {
	case f != "" && p != "":
		return ch, false, cli.Usagef("give --features or --profile, not both")
	case p != "":
		prof, err := t.loadProfile(p)
		if err != nil {
			return ch, false, err
		}
		if len(prof.With) > 0 && len(t.modules) == 0 {
			return ch, false, cli.Usagef("profile %s builds in modules from outside navius (%s): navius build --profile %s builds it; %s does not take modules",
				p, strings.Join(prof.With, ", "), p, command)
		}
		spec := "none," + strings.Join(prof.Features, ",")
		sel, err := t.manifest.Resolve(spec)
		if err != nil {
			return ch, false, cli.Usagef("profile %s: %v", p, err)
		}
		return choice{sel: sel, how: "profile " + p, profile: p, spec: spec}, true, nil
	case c.IsSet("features"):
		sel, err := t.manifest.Resolve(f)
		if err != nil {
			return ch, false, cli.Usagef("--features %s: %v", f, err)
		}
		return choice{sel: sel, how: "--features " + f, spec: f}, true, nil
	}
	return ch, false, nil
}

// defaults is the choice when no selection flag is given.
func (t *tree) defaults() choice {
	sel, _ := t.manifest.Resolve("default")
	return choice{sel: sel, how: "the defaults", spec: "default"}
}

// target parses --target GOOS/GOARCH.
func target(c *ucli.Context) (goos, goarch string, err error) {
	t := c.String("target")
	if t == "" {
		return "", "", nil
	}
	goos, goarch, ok := strings.Cut(t, "/")
	if !ok || goos == "" || goarch == "" || strings.Contains(goarch, "/") {
		return "", "", cli.Usagef("--target %q: use GOOS/GOARCH, e.g. linux/arm64 (go tool dist list shows them all)", t)
	}
	out, err := exec.Command("go", "tool", "dist", "list").Output()
	if err == nil && !slices.Contains(strings.Fields(string(out)), t) {
		return "", "", cli.Usagef("--target %q is not a platform Go builds for; go tool dist list shows them all", t)
	}
	return goos, goarch, nil
}

func isHost(goos, goarch string) bool {
	return (goos == "" || goos == runtime.GOOS) && (goarch == "" || goarch == runtime.GOARCH)
}

// binaryName is navius, or navius.exe for Windows.
func binaryName(goos string) string {
	if goos == "windows" || goos == "" && runtime.GOOS == "windows" {
		return "navius.exe"
	}
	return "navius"
}

// facts is what a built binary says about itself: its features report and
// its declared options.
type facts struct {
	Report  cli.FeatureReport
	Options []cli.OptionRow
}

// factsOf asks a navius binary for its features and options.
func factsOf(ctx context.Context, bin string) (facts, error) {
	var f facts
	decode := func(v any, out []byte, args ...string) error {
		if err := json.Unmarshal(out, v); err != nil {
			return fmt.Errorf("%s %s did not print navius's JSON: %v", bin, strings.Join(args, " "), err)
		}
		return nil
	}
	// The first run is the check run: a binary that cannot start (a
	// provider's init panics) is reported in one line.
	out, err := build.CheckRun(ctx, bin)
	if err != nil {
		return f, err
	}
	if err := decode(&f.Report, out, "--features", "--json"); err != nil {
		return f, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "config", "keys", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return f, fmt.Errorf("%s config keys --json: %v %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	return f, decode(&f.Options, stdout.Bytes(), "config", "keys", "--json")
}

// selfFacts describes the running binary without executing anything.
func selfFacts(m *manifest.Manifest) facts {
	return facts{Report: cli.Features(m), Options: cli.OptionRows()}
}

// quietBuild builds sel for the host into dir and returns the binary, for
// commands that need a binary of a selection only to ask it about itself.
func (t *tree) quietBuild(ctx context.Context, sel manifest.Selection, dir, goos, goarch string) (string, build.Plan, error) {
	out := filepath.Join(dir, binaryName(goos))
	plan, err := build.NewPlan(build.Options{Source: t.dir, Fetched: t.fetched, Selection: sel, Output: out, GOOS: goos, GOARCH: goarch, Modules: t.modules})
	if err != nil {
		return "", plan, err
	}
	plan.Work = t.resolvedWork(plan.Env)
	var log bytes.Buffer
	if _, err := plan.Run(ctx, &log); err != nil {
		return "", plan, fmt.Errorf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	return out, plan, nil
}

// isSelf reports whether a build of sel from the tree is the running
// binary over again: the same features at the same version. A binary of
// another version (an unstamped "dev" one, one built before the last
// commit, a release in another checkout) describes itself, not the tree.
func (t *tree) isSelf(sel manifest.Selection) bool {
	return slices.Equal(sel.Features, buildinfo.Compiled()) && buildinfo.Read().Version == t.version()
}

// factsFor returns the facts of sel: the running binary's own when a
// build of sel is this binary (isSelf), else those of a host build of sel.
func (t *tree) factsFor(ctx context.Context, sel manifest.Selection, self *manifest.Manifest) (facts, error) {
	if t.isSelf(sel) {
		return selfFacts(self), nil
	}
	if err := requireGo(); err != nil {
		return facts{}, err
	}
	dir, err := os.MkdirTemp("", "navius-facts-")
	if err != nil {
		return facts{}, err
	}
	defer os.RemoveAll(dir)
	bin, _, err := t.quietBuild(ctx, sel, dir, "", "")
	if err != nil {
		return facts{}, err
	}
	return factsOf(ctx, bin)
}

// oneLine keeps the first line of an error for messages that must be one
// line (go build's output goes to stderr separately).
func oneLine(err error) error {
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		return err
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(msg)
}
