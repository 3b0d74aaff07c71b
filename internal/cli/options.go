package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/app"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/providers"
)

// optionFlags makes one serve flag per declared option. Its help shows the
// option's default, its environment variable and, for an enum, its choices;
// a boolean option's flag also works bare (--log-access).
func optionFlags() []ucli.Flag {
	var flags []ucli.Flag
	for _, o := range providers.Options() {
		usage := o.Description
		if len(o.Enum) > 0 {
			usage += " One of: " + strings.Join(o.Enum, ", ") + "."
		}
		if o.Secret {
			usage += " Secret: prefer " + o.EnvName() + " over a flag, which other users can see in ps."
		}
		flags = append(flags, &optionFlag{
			GenericFlag: &ucli.GenericFlag{Name: o.FlagName(), Usage: usage, Category: "options",
				Value: &optionValue{isBool: o.Type == providers.Bool}},
			option: o,
			names:  []string{o.FlagName()},
		})
	}
	return flags
}

// optionFlag is a serve flag that sets an option. The value is kept as
// typed: config checks it, naming the flag, the key and the fix; config,
// not urfave/cli, reads the environment variable, so that it can say where
// a value came from.
type optionFlag struct {
	*ucli.GenericFlag
	option providers.Option
	// names are worked out once: urfave/cli derives them through a regexp
	// on every call and looks up every flag by name for every flag, so with
	// one flag per option that was a third of the CPU time of a start.
	names []string
}

func (f *optionFlag) Names() []string { return f.names }

// TakesValue is false for a boolean option, which works bare.
func (f *optionFlag) TakesValue() bool { return f.option.Type != providers.Bool }

// String is the flag's line in the help: the value's type, the default
// (never a secret's) and the environment variable.
func (f *optionFlag) String() string {
	o := f.option
	name := "--" + o.FlagName()
	if f.TakesValue() {
		name += " " + strings.ToUpper(string(o.Type))
	} else {
		name += "[=false]"
	}
	usage := f.Usage
	if def := o.DefaultValue(); def != "" && !o.Secret {
		usage += " (default: " + def + ")"
	}
	return name + "\t" + usage + " [$" + o.EnvName() + "]"
}

// optionValue is an option flag's value as given.
type optionValue struct {
	value  string
	isBool bool
}

func (v *optionValue) String() string { return v.value }

func (v *optionValue) Set(s string) error {
	v.value = s
	return nil
}

// IsBoolFlag lets the flag package accept a boolean option's flag bare,
// as --name=true.
func (v *optionValue) IsBoolFlag() bool { return v.isBool }

func isKeyRune(r rune) bool {
	return r == '.' || r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

// appOptions collects the config file and every option flag that was set.
func appOptions(env *Env, c *ucli.Context) (app.Options, error) {
	opts := app.Options{Manifest: env.Manifest, ConfigFile: c.String("config"), Environ: env.Environ, Log: env.Stderr}
	for _, o := range providers.Options() {
		if c.IsSet(o.FlagName()) {
			opts.Flags = append(opts.Flags, config.Flag{Key: o.Key, Value: c.String(o.FlagName()), Name: o.FlagName()})
		}
	}
	for _, kv := range RepeatedValues(c, "set") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			// Only what looks like the key is shown: the rest may be a
			// secret typed with another separator (auth.tokens:...).
			key := kv[:len(kv)-len(strings.TrimLeftFunc(kv, isKeyRune))]
			return opts, Usagef("--set %q...: use --set key=value, e.g. --set log.level=debug", key)
		}
		opts.Flags = append(opts.Flags, config.Flag{Key: strings.TrimSpace(k), Value: v, Name: "set " + strings.TrimSpace(k)})
	}
	return opts, nil
}

func configCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "config",
		Usage: "list the config options of this binary, or check a config",
		Subcommands: []*ucli.Command{
			{
				Name:  "keys",
				Usage: "list every option: key, type, default, environment variable, description",
				Flags: []ucli.Flag{&ucli.BoolFlag{Name: "json", Usage: "print JSON"}},
				Action: func(c *ucli.Context) error {
					return printOptions(env, c.Bool("json"))
				},
			},
			{
				Name:  "sample",
				Usage: "print a commented YAML config with every option of this binary at its default",
				Action: func(c *ucli.Context) error {
					_, err := io.WriteString(env.Stdout, SampleConfig(OptionRows()))
					return err
				},
			},
			{
				Name:  "check",
				Usage: "run every check serve makes before it opens anything, listing every problem; else print each value and its source (secrets hidden)",
				Flags: append([]ucli.Flag{
					&ucli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML config `FILE`"},
					&ucli.GenericFlag{Name: "set", Value: &Repeated{}, Usage: "set any option: --set `key=value` (repeatable)"},
				}, optionFlags()...),
				Action: func(c *ucli.Context) error {
					opts, err := appOptions(env, c)
					if err != nil {
						return err
					}
					v, err := app.Validate(opts) // the checks serve makes, all of them
					if err != nil {
						return err
					}
					cfg := v.Config
					for _, w := range cfg.Warnings {
						fmt.Fprintln(env.Stderr, "warning:", w)
					}
					tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
					for _, o := range providers.Options() {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Key, Display(o, cfg.Settings[o.Key]), cfg.Source(o.Key))
					}
					if err := tw.Flush(); err != nil {
						return err
					}
					fmt.Fprintln(env.Stdout, "config OK: serve would start with these settings")
					return nil
				},
			},
		},
	}
}

// Display renders an option's value for people: secrets are masked and URL
// passwords redacted.
func Display(o providers.Option, v string) string {
	switch {
	case o.Secret && v != "":
		return "<secret>"
	case o.Type == providers.URL:
		return providers.Redact(v)
	case v == "":
		return `""`
	}
	return v
}

// OptionRow is one option as navius config keys --json prints it; the
// builder reads these rows from a built binary to document its options.
type OptionRow struct {
	Key         string   `json:"key"`
	Type        string   `json:"type"`
	Default     string   `json:"default"`
	Enum        []string `json:"enum,omitempty"`
	Env         string   `json:"env"`
	Flag        string   `json:"flag"`
	Secret      bool     `json:"secret,omitempty"`
	Feature     string   `json:"feature"`
	Description string   `json:"description"`
	Min         string   `json:"min,omitempty"`
	Max         string   `json:"max,omitempty"`
}

// OptionRows describes this binary's declared options.
func OptionRows() []OptionRow { return RowsOf(providers.Options()) }

// RowsOf describes opts.
func RowsOf(opts []providers.Option) []OptionRow {
	rows := make([]OptionRow, len(opts))
	for i, o := range opts {
		rows[i] = OptionRow{o.Key, string(o.Type), o.DefaultValue(), o.Enum, o.EnvName(), "--" + o.FlagName(), o.Secret, o.Feature, o.Description, o.Min, o.Max}
	}
	return rows
}

// PrintJSON writes v as indented JSON: the --json output of navius's
// listings (--features, config keys, features).
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // output for people and programs, not HTML
	return enc.Encode(v)
}

func printOptions(env *Env, asJSON bool) error {
	rows := OptionRows()
	if asJSON {
		return PrintJSON(env.Stdout, rows)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT\tENVIRONMENT\tFEATURE")
	for _, o := range rows {
		def := o.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Key, o.Type, def, o.Env, o.Feature)
	}
	return tw.Flush()
}

// SampleConfig renders a commented YAML config holding every option of rows
// at its default, grouped by section. Secrets never get a value: their line
// is commented out, empty (so that uncommenting it still gives valid YAML),
// and says to set the environment variable instead.
func SampleConfig(rows []OptionRow) string {
	var b strings.Builder
	b.WriteString("# navius configuration: every option of this build at its default.\n")
	b.WriteString("# Environment variables (NAVIUS_*) and flags override this file.\n")
	section := "\x00"
	for _, o := range rows {
		sec, name, nested := strings.Cut(o.Key, ".")
		if !nested {
			sec, name = "", o.Key
		}
		indent := ""
		if sec != "" {
			indent = "  "
		}
		if sec != section {
			section = sec
			b.WriteString("\n")
			if sec != "" {
				fmt.Fprintf(&b, "%s:\n", sec)
			}
		}
		desc := o.Description
		if len(o.Enum) > 0 {
			desc += " One of: " + strings.Join(o.Enum, ", ") + "."
		}
		fmt.Fprintf(&b, "%s# %s (%s, %s)\n", indent, desc, o.Type, o.Env)
		switch {
		case o.Secret:
			fmt.Fprintf(&b, "%s# %s: \"\"  # secret: set %s instead of writing it here\n", indent, name, o.Env)
		case o.Default == "":
			fmt.Fprintf(&b, "%s# %s:\n", indent, name)
		default:
			fmt.Fprintf(&b, "%s%s: %s\n", indent, name, yamlScalar(o.Default))
		}
	}
	return b.String()
}

// yamlScalar quotes a value when YAML would read it as something else.
func yamlScalar(v string) string {
	if strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(v) != v {
		return strconv.Quote(v)
	}
	return v
}
