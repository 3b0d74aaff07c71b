// Package cli is navius's command line: the root (--features, --version),
// serve, config and version, plus any command a compiled-in feature adds with
// Register (the builder does).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/app"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/suggest"
	"github.com/navius-dev/navius/providers"
)

// Env is what commands run against.
type Env struct {
	Manifest *manifest.Manifest
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Environ  []string
}

// UsageError is bad input on the command line; it exits with code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

var (
	extraMu sync.Mutex
	extra   []func(*Env) []*ucli.Command
)

// Register adds commands; features call it from their gate file's init.
func Register(cmd func(*Env) []*ucli.Command) {
	extraMu.Lock()
	defer extraMu.Unlock()
	extra = append(extra, cmd)
}

func init() {
	// --version prints what the version command prints.
	ucli.VersionPrinter = func(c *ucli.Context) { fmt.Fprintln(c.App.Writer, versionLine()) }
}

// versionLine is the version, Go version, platform and revision.
func versionLine() string {
	i := buildinfo.Read()
	line := fmt.Sprintf("navius %s (%s, %s", i.Version, i.GoVersion, i.Platform)
	if i.Revision != "" {
		line += ", revision " + i.Revision
	}
	return line + ")"
}

// Main runs the command line and returns the process exit code: 0 success,
// 1 failure, 2 bad usage or config.
func Main(args []string, manifestJSON []byte) int {
	m, err := manifest.Parse(manifestJSON)
	if err == nil {
		m, err = WithModuleFeatures(m)
	}
	if err != nil { // the embedded manifest is checked by tests; still, never panic
		fmt.Fprintln(os.Stderr, "navius:", err)
		return 1
	}
	env := &Env{Manifest: m, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}
	return Run(env, args)
}

// Run is Main with its environment supplied (tests use it).
func Run(env *Env, args []string) int {
	err := NewApp(env).Run(joinBoolValues(args))
	if err == nil {
		return 0
	}
	// An error with several problems (config check lists them all) is
	// one line per problem.
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(env.Stderr, "navius:", line)
	}
	var ue *UsageError
	var ce *config.Error
	if errors.As(err, &ue) || errors.As(err, &ce) {
		return 2
	}
	return 1
}

// NewApp builds the urfave/cli application.
func NewApp(env *Env) *ucli.App {
	a := &ucli.App{
		Name:      "navius",
		Usage:     "a single-binary server whose backends are chosen at compile time",
		Version:   buildinfo.Read().Version,
		Writer:    env.Stdout,
		ErrWriter: env.Stderr,
		Reader:    env.Stdin,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "features", Usage: "list the features compiled into this binary and exit"},
			&ucli.BoolFlag{Name: "json", Usage: "with --features: print JSON (with build tags, Go version and VCS revision)"},
		},
		HideHelpCommand: true,
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return unknownCommand(c, env.Manifest, c.Args().First())
			}
			if c.Bool("features") {
				return printFeatures(env, c.Bool("json"))
			}
			if c.Bool("json") {
				return Usagef("--json goes with --features (navius --features --json)")
			}
			return ucli.ShowAppHelp(c)
		},
		OnUsageError: func(c *ucli.Context, err error, _ bool) error {
			return Usagef("%v%s; see navius --help", err, flagSuggestion(err, c.App.Flags))
		},
		ExitErrHandler: func(*ucli.Context, error) {}, // Run maps errors to exit codes
		Commands: []*ucli.Command{
			serveCommand(env),
			configCommand(env),
			{
				Name:  "version",
				Usage: "print the version (as --version does)",
				Action: func(c *ucli.Context) error {
					_, err := fmt.Fprintln(env.Stdout, versionLine())
					return err
				},
			},
		},
	}
	extraMu.Lock()
	for _, cmds := range extra {
		a.Commands = append(a.Commands, cmds(env)...)
	}
	extraMu.Unlock()
	sort.Slice(a.Commands, func(i, j int) bool { return a.Commands[i].Name < a.Commands[j].Name })
	for _, cmd := range a.Commands {
		tuneCommand(cmd, "")
	}
	return a
}

// tuneCommand makes cmd's and its subcommands' usage errors name the
// command as typed (navius config check, not navius check) and offer the
// closest flag or subcommand for an unknown one.
func tuneCommand(cmd *ucli.Command, parent string) {
	full := strings.TrimSpace(parent + " " + cmd.Name)
	if cmd.OnUsageError == nil {
		flags := cmd.Flags
		cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
			return Usagef("%s: %v%s; see navius %s --help", full, err, flagSuggestion(err, flags), full)
		}
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		subs := cmd.Subcommands
		cmd.Action = func(c *ucli.Context) error {
			if !c.Args().Present() {
				return ucli.ShowSubcommandHelp(c)
			}
			return unknownIn(full+": ", c.Args().First(), subs)
		}
	}
	for _, sub := range cmd.Subcommands {
		tuneCommand(sub, full)
	}
}

// flagSuggestion is " (did you mean --x?)" for an unknown flag close to
// one of flags.
func flagSuggestion(err error, flags []ucli.Flag) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return ""
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	if s := suggest.Closest(name, names); s != "" {
		return fmt.Sprintf(" (did you mean --%s?)", s)
	}
	return ""
}

// unknownCommand refuses a command this binary lacks: one a feature left
// out of the build brings says which, else the closest command is offered.
func unknownCommand(c *ucli.Context, m *manifest.Manifest, name string) error {
	if f := m.CommandFeature(name); f != "" && !slices.Contains(buildinfo.Compiled(), f) {
		return Usagef("command %q comes with feature %s, which is not compiled into this binary; rebuild with %s",
			name, f, buildinfo.Rebuild(buildinfo.Compiled(), f))
	}
	return unknownIn("", name, c.App.Commands)
}

// unknownIn refuses name, which is none of cmds, offering the closest.
func unknownIn(prefix, name string, cmds []*ucli.Command) error {
	var names []string
	for _, cmd := range cmds {
		names = append(names, cmd.Name)
	}
	msg := fmt.Sprintf("%sunknown command %q", prefix, name)
	if s := suggest.Closest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return Usagef("%s; commands: %s", msg, strings.Join(names, ", "))
}

// joinBoolValues lets a boolean option's flag take its value as the next
// argument too (--log-access false), as well as bare (--log-access) or with
// = (--log-access=false): the commands that take option flags, serve and
// config check, take no arguments, so a boolean word after such a flag can
// only be its value.
func joinBoolValues(args []string) []string {
	if len(args) < 2 || !(args[1] == "serve" || len(args) > 2 && args[1] == "config" && args[2] == "check") {
		return args
	}
	out := slices.Clone(args[:2])
	for i := 2; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if o, ok := optionByFlag(name); ok && strings.HasPrefix(a, "-") && o.Type == providers.Bool && i+1 < len(args) {
			if _, err := providers.ParseBool(args[i+1]); err == nil {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// optionByFlag finds the option whose serve flag is name.
func optionByFlag(name string) (providers.Option, bool) {
	for _, o := range providers.Options() {
		if o.FlagName() == name {
			return o, true
		}
	}
	return providers.Option{}, false
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func serveCommand(env *Env) *ucli.Command {
	flags := append([]ucli.Flag{
		&ucli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML config `FILE`"},
		&ucli.GenericFlag{Name: "set", Value: &Repeated{}, Usage: "set any option: --set `key=value` (repeatable)"},
	}, optionFlags()...)
	return &ucli.Command{
		Name:  "serve",
		Usage: "run the HTTP server",
		Description: "Settings come from, in rising precedence: defaults, the --config file, NAVIUS_* environment\n" +
			"variables, and flags. navius config keys lists every option.",
		Flags: flags,
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return Usagef("serve takes no arguments (got %q); options are flags, e.g. --listen 127.0.0.1:8080", c.Args().First())
			}
			opts, err := appOptions(env, c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return app.Serve(ctx, opts)
		},
	}
}
