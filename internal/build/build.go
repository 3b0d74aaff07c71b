// Package build turns a feature selection into a `go build` of navius: the
// one code path behind `make build` (scripts/build) and `navius build`.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// Module is navius's module path, for -X stamping.
const Module = "github.com/navius-dev/navius"

// Options describe one build.
type Options struct {
	// Source is the navius source tree (holding go.mod and features.json).
	Source string
	// Fetched, when set, is what Source is: navius at a version in the Go
	// module cache (Fetch). Its version and the proxy's revision are
	// stamped; git is not asked (the module cache may sit inside some
	// other repository), and no go.work applies.
	Fetched *Fetched
	// Selection is the resolved feature set.
	Selection manifest.Selection
	// Output is the binary's path; relative paths are relative to Source.
	Output string
	// GOOS and GOARCH cross-compile when set.
	GOOS, GOARCH string
	// Version is stamped into the binary; empty: derived from git.
	Version string
	// ExtraArgs are passed to go build before the package argument.
	ExtraArgs []string
	// Modules are built in from other modules (navius build --with),
	// through a copy of go.mod (-modfile) and a generated import file
	// (-overlay) in a temporary directory: the tree is not written to.
	Modules []*thirdparty.Module
	// Work is that directory when the caller made it (PrepareModules, to
	// verify the modules in it first); else Run makes one.
	Work *Work
}

// Plan is a build ready to run.
type Plan struct {
	Dir     string
	Args    []string // go build arguments
	Env     []string // additions to the environment
	Output  string
	Version string
	// Modules are the --with modules the build adds; Work, when set, is
	// their workspace.
	Modules []*thirdparty.Module
	Work    *Work
	// Cgo is the extra flag that turned cgo on (CgoFlag), "" for the
	// static build.
	Cgo string
}

// Command renders the plan as a shell command line; with modules, <tmp>
// is the temporary directory of the go.mod copy and the import file.
func (p Plan) Command() string {
	return strings.Join(p.Env, " ") + " go " + strings.Join(quote(p.args("<tmp>")), " ")
}

// args are the go build arguments, with the -modfile and -overlay flags
// of the work directory when the build adds modules.
func (p Plan) args(work string) []string {
	if len(p.Modules) == 0 {
		return p.Args
	}
	n := len(p.Args) - 1 // before the package argument
	return slices.Concat(p.Args[:n], []string{"-modfile=" + filepath.Join(work, "go.mod"), "-overlay=" + filepath.Join(work, "overlay.json")}, p.Args[n:])
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// trimTags drop the parts of urfave/cli/v2 navius does not use: ToMarkdown
// and ToMan (with go-md2man and blackfriday) and the did-you-mean
// suggestions App.Suggest turns on (with smetrics). navius has its own
// suggestions (internal/suggest). A plain go build, without them, works
// too; it is only larger.
var trimTags = []string{"urfave_cli_no_docs", "urfave_cli_no_suggest"}

// Tags are the go build tags of a selection: its feature tags, then
// trimTags.
func Tags(sel manifest.Selection) []string {
	return append(sel.Tags(), trimTags...)
}

// NewPlan builds the go build invocation: static (CGO_ENABLED=0), -trimpath,
// stripped, with the version and revision stamped and the feature tags.
// Only an extra flag that needs cgo (CgoFlag) turns cgo on.
func NewPlan(opts Options) (Plan, error) {
	if opts.Source == "" {
		return Plan{}, errors.New("no source tree given")
	}
	out := opts.Output
	if out == "" {
		out = "bin/navius"
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(opts.Source, out)
	}
	version, rev := opts.Version, ""
	if f := opts.Fetched; f != nil {
		if version == "" {
			version = f.Version
		}
		rev = f.Revision
	} else {
		if version == "" {
			version = GitVersion(opts.Source)
		}
		rev = gitOutput(opts.Source, "rev-parse", "HEAD")
	}
	ldflags := fmt.Sprintf("-s -w -X %s/internal/buildinfo.Version=%s", Module, version)
	if rev != "" {
		ldflags += fmt.Sprintf(" -X %s/internal/buildinfo.Revision=%s", Module, rev)
	}
	args := []string{"build", "-trimpath", "-tags", strings.Join(Tags(opts.Selection), ","), "-ldflags", ldflags, "-o", out}
	args = append(args, opts.ExtraArgs...)
	args = append(args, ".")
	cgo := CgoFlag(opts.ExtraArgs)
	env := []string{"CGO_ENABLED=0"}
	if cgo != "" {
		env = []string{"CGO_ENABLED=1"}
	}
	if opts.Fetched != nil {
		env = append(env, "GOWORK=off")
	}
	if opts.GOOS != "" {
		env = append(env, "GOOS="+opts.GOOS)
	}
	if opts.GOARCH != "" {
		env = append(env, "GOARCH="+opts.GOARCH)
	}
	return Plan{Dir: opts.Source, Args: args, Env: env, Output: out, Version: version, Modules: opts.Modules, Work: opts.Work, Cgo: cgo}, nil
}

// cgoFlags are the go build flags that link a C runtime, so need cgo.
var cgoFlags = []string{"race", "msan", "asan"}

// CgoFlag is the first of the extra go build flags that needs cgo (-race,
// -msan, -asan, as given), "" for none.
func CgoFlag(extra []string) string {
	for _, a := range extra {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if on, err := strconv.ParseBool(value); slices.Contains(cgoFlags, name) && (!hasValue || err == nil && on) {
			return a
		}
	}
	return ""
}

// CheckCC refuses a build that needs cgo (for flag, CgoFlag) when there is
// no C compiler (go env CC) to run it.
func CheckCC(ctx context.Context, flag string) error {
	out, err := exec.CommandContext(ctx, "go", "env", "CC").Output()
	if err != nil {
		return fmt.Errorf("go env CC: %w", err)
	}
	cc := strings.Fields(string(out))
	if len(cc) == 0 {
		return fmt.Errorf("%s needs cgo, and go env CC names no C compiler: set CC, or install one (apt-get install -y gcc), or build without %s", flag, flag)
	}
	if _, err := exec.LookPath(cc[0]); err != nil {
		return fmt.Errorf("%s needs cgo, and its C compiler %s (go env CC) is not on PATH: install one (apt-get install -y gcc), or build without %s", flag, cc[0], flag)
	}
	return nil
}

// Run executes the plan, streaming go's output to w, and returns the
// binary's size.
func (p Plan) Run(ctx context.Context, w io.Writer) (int64, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return 0, errors.New("the Go toolchain is not on PATH: install Go 1.26 or later (https://go.dev/dl/) to build navius")
	}
	if err := os.MkdirAll(filepath.Dir(p.Output), 0o755); err != nil {
		return 0, err
	}
	args := p.Args
	if w := p.Work; w != nil {
		args = p.args(w.Dir)
	} else if len(p.Modules) > 0 {
		w, err := PrepareModules(ctx, p.Dir, p.Env, p.Modules)
		if err != nil {
			return 0, err
		}
		defer w.Close()
		args = p.args(w.Dir)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("go build failed: %w", err)
	}
	st, err := os.Stat(p.Output)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// GitVersion describes the source tree's commit: the nearest tag, commits
// since and a -dirty mark, or 0.0.0-dev outside git.
func GitVersion(dir string) string {
	if v := gitOutput(dir, "describe", "--tags", "--always", "--dirty"); v != "" {
		if !strings.HasPrefix(v, "v") {
			v = "0.0.0-" + v // no tag yet: a bare commit hash
		}
		return v
	}
	return "0.0.0-dev"
}

func gitOutput(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// FindSource returns the nearest directory at or above dir holding
// features.json and go.mod.
func FindSource(dir string) (string, error) {
	start, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := start; ; {
		if fileExists(filepath.Join(d, "features.json")) && fileExists(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no navius source tree (a directory with features.json and go.mod) at or above %s; pass --source DIR", start)
		}
		d = parent
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// HumanSize renders a byte count as MiB with two decimals.
func HumanSize(n int64) string {
	return fmt.Sprintf("%.2f MiB (%d bytes)", float64(n)/(1<<20), n)
}

// Platform is the target platform of a plan, for messages.
func (p Plan) Platform() string {
	goos, goarch := runtime.GOOS, runtime.GOARCH
	for _, e := range p.Env {
		if v, ok := strings.CutPrefix(e, "GOOS="); ok {
			goos = v
		}
		if v, ok := strings.CutPrefix(e, "GOARCH="); ok {
			goarch = v
		}
	}
	return goos + "/" + goarch
}

// HostPlatform is this machine's GOOS/GOARCH.
func HostPlatform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// CommandFor is the make command that reproduces a selection.
func CommandFor(sel manifest.Selection) string {
	spec := strings.Join(sel.Features, ",")
	if spec == "" {
		spec = "none"
	}
	return "make build FEATURES=" + spec
}
