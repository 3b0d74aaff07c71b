package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/suggest"
)

// shippedProfiles ship with navius; deleting one asks for --force.
var shippedProfiles = []string{"minimal", "standard", "enterprise"}

// Profile is a named feature selection kept as profiles/<name>.json in the
// source tree, meant to be committed.
type Profile struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Features    []string `json:"features"`
	// With are the provider modules from outside navius it builds in, as
	// --with takes them; a local directory inside the tree is relative to
	// the tree's root.
	With []string `json:"with,omitempty"`
}

// validProfileName: 1-64 of [a-z0-9_-], starting with a letter or digit
// (checked by hand: a compiled bounded regexp costs startup time).
func validProfileName(n string) bool {
	if len(n) == 0 || len(n) > 64 || n[0] == '-' || n[0] == '_' {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (t *tree) profileDir() string { return filepath.Join(t.dir, "profiles") }

func (t *tree) profilePath(name string) (string, error) {
	if !validProfileName(name) {
		return "", cli.Usagef("profile name %q is invalid: use lower-case letters, digits, '-' and '_'", name)
	}
	return filepath.Join(t.profileDir(), name+".json"), nil
}

func (t *tree) profileNames() []string {
	files, _ := filepath.Glob(filepath.Join(t.profileDir(), "*.json"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	sort.Strings(names)
	return names
}

func (t *tree) loadProfile(name string) (Profile, error) {
	path, err := t.profilePath(name)
	if err != nil {
		return Profile{}, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		msg := fmt.Sprintf("no profile %q in %s", name, t.profileDir())
		if s := suggest.Closest(name, t.profileNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return Profile{}, cli.Usagef("%s; profiles: %s", msg, strings.Join(t.profileNames(), ", "))
	}
	if err != nil {
		return Profile{}, err
	}
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Profile{}, cli.Usagef("profile %s (%s): %v", name, path, err)
	}
	p.Name = name
	return p, nil
}

func profileCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:  "profile",
		Usage: "save, list, show and delete build profiles (profiles/NAME.json in the source tree)",
		Subcommands: []*ucli.Command{
			{
				Name:      "save",
				Usage:     "save a feature selection as a profile",
				ArgsUsage: "NAME",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "features", Aliases: []string{"f"}, Usage: "the features, as make build takes them: `LIST`"},
					&ucli.StringFlag{Name: "description", Aliases: []string{"d"}, Usage: "what the profile is for"},
					&ucli.BoolFlag{Name: "force", Usage: "replace an existing profile"},
					&ucli.StringSliceFlag{Name: "with", Usage: "build in the provider module `MODULE[@VERSION][=LOCAL_DIR]` too (repeatable)"},
					sourceFlag,
				},
				Action: func(c *ucli.Context) error {
					name, a, t, err := profileArgs(c)
					if err != nil {
						return err
					}
					path, err := t.profilePath(name)
					if err != nil {
						return err
					}
					if a.String("features") == "" {
						return cli.Usagef("profile save %s: give the features with --features LIST", name)
					}
					with, err := t.profileWith(a.StringSlice("with"))
					if err != nil {
						return err
					}
					// The modules are loaded and checked now, so that a
					// profile names only modules that build.
					if err := t.addModules(c.Context, t.withArgs(Profile{With: with})); err != nil {
						return err
					}
					spec := manifest.SpecWith(a.String("features"), build.FeatureNames(t.modules)...)
					sel, err := t.manifest.Resolve(spec)
					if err != nil {
						return cli.Usagef("--features %s: %v", a.String("features"), err)
					}
					if _, err := t.manifest.CheckServes(spec, sel); err != nil {
						return cli.Usagef("profile save %s: --features %s: %v", name, a.String("features"), err)
					}
					if _, err := os.Stat(path); err == nil && !a.Bool("force") {
						return cli.Usagef("profile %s exists (%s); pass --force to replace it", name, path)
					}
					p := Profile{Name: name, Description: a.String("description"), Features: orEmpty(sel.Features), With: with}
					data, _ := json.MarshalIndent(p, "", "  ")
					if err := os.MkdirAll(t.profileDir(), 0o755); err != nil {
						return err
					}
					if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "saved profile %s: %s%s (%s)\n", name, strings.Join(sel.Features, ", "), withText(with), path)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the profiles",
				Flags: []ucli.Flag{sourceFlag},
				Action: func(c *ucli.Context) error {
					t, err := openTree(c)
					if err != nil {
						return err
					}
					tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
					for _, n := range t.profileNames() {
						p, err := t.loadProfile(n)
						if err != nil {
							fmt.Fprintf(tw, "%s\t(unreadable: %v)\n", n, err)
							continue
						}
						fmt.Fprintf(tw, "%s\t%s%s\t%s\n", n, strings.Join(p.Features, ","), withText(p.With), p.Description)
					}
					return tw.Flush()
				},
			},
			{
				Name:      "show",
				Usage:     "show a profile and what it resolves to",
				ArgsUsage: "NAME",
				Flags:     []ucli.Flag{sourceFlag},
				Action: func(c *ucli.Context) error {
					name, _, t, err := profileArgs(c)
					if err != nil {
						return err
					}
					p, err := t.loadProfile(name)
					if err != nil {
						return err
					}
					if err := t.addModules(c.Context, t.withArgs(p)); err != nil {
						return err
					}
					sel, err := t.manifest.Resolve("none," + strings.Join(p.Features, ","))
					if err != nil {
						return cli.Usagef("profile %s: %v", name, err)
					}
					fmt.Fprintf(env.Stdout, "profile:     %s\ndescription: %s\nfeatures:    %s\ntags:        %s\n",
						name, p.Description, strings.Join(sel.Features, ", "), sel.TagString())
					for _, m := range t.modules {
						fmt.Fprintf(env.Stdout, "with:        %s\n", build.ModuleLine(m))
					}
					var total int64
					measured := true
					for _, n := range sel.Features {
						if s := t.manifest.Feature(n).SizeImpact; s != nil {
							total += *s
						} else {
							measured = false
						}
					}
					if core := t.manifest.Core.SizeImpact; core != nil && measured {
						fmt.Fprintf(env.Stdout, "size:        about %s (core plus each feature's measured impact)\n", human(*core+total))
					}
					return nil
				},
			},
			{
				Name:      "delete",
				Usage:     "delete a profile (one that ships with navius only with --force)",
				ArgsUsage: "NAME",
				Flags:     []ucli.Flag{&ucli.BoolFlag{Name: "force", Usage: "delete a profile that ships with navius"}, sourceFlag},
				Action: func(c *ucli.Context) error {
					name, a, t, err := profileArgs(c)
					if err != nil {
						return err
					}
					if _, err := t.loadProfile(name); err != nil {
						return err
					}
					if slices.Contains(shippedProfiles, name) && !a.Bool("force") {
						return cli.Usagef("profile %s ships with navius (builds, packages and docs use it); pass --force to delete it anyway", name)
					}
					path, _ := t.profilePath(name)
					if err := os.Remove(path); err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "deleted profile %s\n", name)
					return nil
				},
			},
		},
	}
}

// args is a command's positional argument and its flags, which may come
// before or after it (urfave/cli stops parsing flags at the first argument:
// "navius profile save NAME --features x" needs the rest parsed here).
type args struct {
	c     *ucli.Context
	after *flag.FlagSet
}

func (a args) set(name string) bool {
	found := false
	if a.after != nil {
		a.after.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	}
	return found
}

func (a args) String(name string) string {
	if a.set(name) {
		return a.after.Lookup(name).Value.String()
	}
	return a.c.String(name)
}

func (a args) StringSlice(name string) []string {
	if a.set(name) {
		if v, ok := a.after.Lookup(name).Value.(*ucli.StringSlice); ok {
			return v.Value()
		}
	}
	return a.c.StringSlice(name)
}

// withText renders a profile's modules after its features.
func withText(with []string) string {
	if len(with) == 0 {
		return ""
	}
	return " with " + strings.Join(with, ", ")
}

func (a args) Bool(name string) bool {
	if a.set(name) {
		return a.after.Lookup(name).Value.String() == "true"
	}
	return a.c.Bool(name)
}

// profileArgs reads a profile command's NAME and flags and opens the tree.
func profileArgs(c *ucli.Context) (string, args, *tree, error) {
	name, a, err := oneArg(c, "NAME")
	if err != nil {
		return "", a, nil, err
	}
	t, err := openTree(a)
	return name, a, t, err
}

func oneArg(c *ucli.Context, what string) (string, args, error) {
	a := args{c: c}
	rest := c.Args().Slice()
	if len(rest) == 0 {
		return "", a, cli.Usagef("%s takes one argument, %s", c.Command.FullName(), what)
	}
	if len(rest) > 1 {
		a.after = flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
		a.after.SetOutput(io.Discard)
		for _, f := range c.Command.Flags {
			_ = f.Apply(a.after)
		}
		if err := a.after.Parse(rest[1:]); err != nil {
			return "", a, cli.Usagef("%s: %v", c.Command.FullName(), err)
		}
		if a.after.NArg() > 0 {
			return "", a, cli.Usagef("%s takes one argument, %s (got also %q)", c.Command.FullName(), what, a.after.Arg(0))
		}
	}
	return rest[0], a, nil
}
