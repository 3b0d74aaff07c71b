package cli

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/providers"
)

// Shell completion: navius completion SHELL prints a script that asks the
// binary itself, through the hidden command __complete, what may come
// next on the command line. The binary knows its commands and flags, the
// features of features.json, the options its providers declare and, with
// the builder, the profiles; so a script never goes stale. It comes with
// the builder (CompletionCommands): it costs a server binary about 28 KB.

//go:embed completion/navius.bash
var bashScript string

//go:embed completion/navius.zsh
var zshScript string

//go:embed completion/navius.fish
var fishScript string

var (
	valuesMu sync.Mutex
	values   = map[string]func() []string{}
)

// RegisterValues gives, for completion, the values a flag (named without
// dashes) takes, or the arguments of a command (named by its full name,
// e.g. "profile show"): the builder registers its profiles.
func RegisterValues(flag string, list func() []string) {
	valuesMu.Lock()
	defer valuesMu.Unlock()
	values[flag] = list
}

// CompletionCommands are completion and the hidden __complete, for
// cli.Register.
func CompletionCommands(env *Env) []*ucli.Command {
	return []*ucli.Command{
		{
			Name:      "completion",
			Usage:     "print a shell completion script: bash, zsh or fish",
			ArgsUsage: "bash|zsh|fish",
			Description: "Load it in the shell's startup file, e.g.\n" +
				"  bash:  source <(navius completion bash)     (it also completes make's FEATURES=)\n" +
				"  zsh:   source <(navius completion zsh)\n" +
				"  fish:  navius completion fish | source\n" +
				"It completes commands, flags, feature names, profiles and option keys by asking navius.",
			Action: func(c *ucli.Context) error {
				scripts := map[string]string{"bash": bashScript, "zsh": zshScript, "fish": fishScript}
				script, ok := scripts[c.Args().First()]
				if c.NArg() != 1 || !ok {
					return Usagef("completion takes one shell: bash, zsh or fish (e.g. source <(navius completion bash))")
				}
				_, err := fmt.Fprint(env.Stdout, script)
				return err
			},
		},
		{
			Name:   "__complete",
			Hidden: true,
			Usage:  "print the completions of a command line cut at the cursor (for the completion scripts)",
			Action: func(c *ucli.Context) error {
				for _, s := range complete(c.App, env, strings.Join(c.Args().Slice(), " ")) {
					fmt.Fprintln(env.Stdout, s)
				}
				return nil
			},
			SkipFlagParsing: true,
		},
	}
}

// complete returns the words that may replace the last word of line (the
// command line up to the cursor, program name first). Each is a whole
// word: the scripts keep the part the shell already split off. An empty
// answer lets the shell complete file names.
func complete(a *ucli.App, env *Env, line string) []string {
	words := strings.Fields(line)
	cur := ""
	if len(words) > 0 && !strings.HasSuffix(line, " ") && !strings.HasSuffix(line, "\t") {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	if len(words) > 0 {
		words = words[1:] // the program
	}
	cmds, flags := a.Commands, a.Flags
	var path []string     // the commands typed
	var pending ucli.Flag // a flag whose value is the next word
	for _, w := range words {
		switch {
		case pending != nil:
			pending = nil
		case w == "--":
			return nil // go build flags
		case strings.HasPrefix(w, "-"):
			if f := flagNamed(flags, strings.TrimLeft(w, "-")); f != nil && takesValue(f) && !strings.Contains(w, "=") {
				pending = f
			}
		default:
			if cmd := commandNamed(cmds, w); cmd != nil {
				cmds, flags, path = cmd.Subcommands, cmd.Flags, append(path, cmd.Name)
			}
		}
	}
	var out []string
	keep := func(cands ...string) {
		for _, c := range cands {
			if strings.HasPrefix(c, cur) && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	switch {
	case pending != nil:
		keep(flagValues(env, pending.Names()[0], cur)...)
	case strings.HasPrefix(cur, "-") && strings.Contains(cur, "="):
		name, value, _ := strings.Cut(cur, "=")
		if f := flagNamed(flags, strings.TrimLeft(name, "-")); f != nil {
			for _, v := range flagValues(env, f.Names()[0], value) {
				keep(name + "=" + v)
			}
		}
	case strings.HasPrefix(cur, "-"):
		for _, f := range append(slices.Clone(flags), ucli.HelpFlag) {
			n := f.Names()[0]
			if takesValue(f) && len(flagValues(env, n, "")) > 0 {
				keep("--" + n + "=") // its values follow the =
			}
			keep("--" + n)
		}
	default:
		for _, c := range cmds {
			if !c.Hidden && c.Name != "help" {
				keep(c.Name)
			}
		}
		keep(registered(strings.Join(path, " "))...)
	}
	slices.Sort(out)
	return out
}

func commandNamed(cmds []*ucli.Command, name string) *ucli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func flagNamed(flags []ucli.Flag, name string) ucli.Flag {
	name, _, _ = strings.Cut(name, "=")
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func takesValue(f ucli.Flag) bool {
	v, ok := f.(ucli.DocGenerationFlag)
	return ok && v.TakesValue()
}

// flagValues are the whole values a flag may take given what is typed
// (typed): feature lists grow one name at a time after a comma, --set
// offers the option keys, then an enum's choices. None means: file names.
func flagValues(env *Env, flag, typed string) []string {
	switch flag {
	case "features":
		done, last := "", typed
		if i := strings.LastIndexAny(typed, ", "); i >= 0 {
			done, last = typed[:i+1], typed[i+1:]
		}
		var out []string
		for _, n := range env.Manifest.Names() {
			if strings.HasPrefix(last, "-") {
				n = "-" + n
			}
			out = append(out, done+n)
		}
		return append(out, done+"default", done+"all", done+"none")
	case "category":
		return env.Manifest.Categories()
	case "set":
		key, _, hasValue := strings.Cut(typed, "=")
		var out []string
		for _, o := range providers.Options() {
			if !hasValue {
				out = append(out, o.Key+"=")
			} else if o.Key == key {
				for _, v := range choices(o) {
					out = append(out, key+"="+v)
				}
			}
		}
		return out
	case "target", "platform":
		return []string{"darwin/amd64", "darwin/arm64", "linux/386", "linux/amd64", "linux/arm/v7", "linux/arm64", "linux/ppc64le", "linux/riscv64", "linux/s390x", "windows/amd64", "windows/arm64"}
	}
	for _, o := range providers.Options() {
		if o.FlagName() == flag {
			return choices(o)
		}
	}
	return registered(flag)
}

func registered(name string) []string {
	valuesMu.Lock()
	list := values[name]
	valuesMu.Unlock()
	if list == nil {
		return nil
	}
	return list()
}

// choices are an option's values worth offering: an enum's, a boolean's.
func choices(o providers.Option) []string {
	if o.Type == providers.Bool {
		return []string{"false", "true"}
	}
	return o.Enum
}
