package builder

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
	"github.com/navius-dev/navius/internal/thirdparty"
	"github.com/navius-dev/navius/profiles"
)

// shippedProfiles ship with navius (embedded from profiles/); deleting one
// asks for --force.
var shippedProfiles = func() []string {
	files, _ := fs.Glob(profiles.Shipped, "*.json")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = strings.TrimSuffix(f, ".json")
	}
	return names
}()

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

// shippedTree is what profile list and show read outside a source tree:
// the profiles embedded in this binary, described by its own features.
func shippedTree(m *manifest.Manifest) *tree { return &tree{manifest: m} }

// readProfileFile reads profiles/NAME.json: from the tree, or from the
// binary's shipped profiles outside one.
func (t *tree) readProfileFile(name string) ([]byte, error) {
	if t.dir == "" {
		return fs.ReadFile(profiles.Shipped, name+".json")
	}
	path, _ := t.profilePath(name)
	return os.ReadFile(path)
}

func (t *tree) profilePath(name string) (string, error) {
	if !validProfileName(name) {
		return "", cli.Usagef("profile name %q is invalid: use lower-case letters, digits, '-' and '_'", name)
	}
	return filepath.Join(t.profileDir(), name+".json"), nil
}

func (t *tree) profileNames() []string {
	if t.dir == "" {
		return shippedProfiles
	}
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
	data, err := t.readProfileFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		where := t.profileDir()
		if t.dir == "" {
			where = "this binary's shipped profiles (no source tree here)"
		}
		msg := fmt.Sprintf("no profile %q in %s", name, where)
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
				Description: "The selection comes from the same flags as navius build's: --features, --profile,\n" +
					"--interactive, --like or --from-config, plus --with modules.",
				Flags: append(chooseFlags(),
					&ucli.StringFlag{Name: "description", Aliases: []string{"d"}, Usage: "what the profile is for"},
					&ucli.BoolFlag{Name: "force", Usage: "replace an existing profile"},
					sourceFlag,
				),
				Action: func(c *ucli.Context) error {
					name, a, t, err := profileArgs(c)
					if err != nil {
						return err
					}
					path, err := t.profilePath(name)
					if err != nil {
						return err
					}
					if !slices.ContainsFunc(selectionSources, a.IsSet) {
						return cli.Usagef("profile save %s: choose the features as for navius build: --features LIST, --profile, --interactive, --like or --from-config", name)
					}
					if _, err := os.Stat(path); err == nil && !a.Bool("force") {
						return cli.Usagef("profile %s exists (%s); pass --force to replace it", name, path)
					}
					ch, err := t.choose(c.Context, a, env, nil)
					if errors.Is(err, errCancelled) {
						fmt.Fprintln(env.Stdout, "cancelled; no profile was saved")
						return nil
					}
					if err != nil {
						return err
					}
					return t.saveProfile(env.Stdout, name, a.String("description"), ch.sel)
				},
			},
			{
				Name:  "list",
				Usage: "list the profiles",
				Flags: []ucli.Flag{sourceFlag},
				Action: func(c *ucli.Context) error {
					t, err := openTreeOrShipped(c, env.Manifest)
					if err != nil {
						return err
					}
					if t.dir == "" {
						fmt.Fprintln(env.Stdout, "(no source tree here: the profiles that ship with this binary)")
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
					name, a, err := oneArg(c, "NAME")
					if err != nil {
						return err
					}
					t, err := openTreeOrShipped(a, env.Manifest)
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

// openTreeOrShipped is the source tree, or outside one (and without
// --source) the profiles shipped in this binary.
func openTreeOrShipped(flags flagValues, m *manifest.Manifest) (*tree, error) {
	t, err := openTree(flags)
	if err != nil && flags.String("source") == "" {
		return shippedTree(m), nil
	}
	return t, err
}

// saveProfile writes sel and the tree's modules as profile name.
func (t *tree) saveProfile(w io.Writer, name, description string, sel manifest.Selection) error {
	path, err := t.profilePath(name)
	if err != nil {
		return err
	}
	var args []string
	for _, m := range t.modules {
		wa := thirdparty.With{Module: m.Path, Version: m.Version}
		if m.Local {
			wa = thirdparty.With{Module: m.Path, Dir: m.Dir}
		}
		args = append(args, wa.String())
	}
	with, err := t.profileWith(args)
	if err != nil {
		return err
	}
	p := Profile{Name: name, Description: description, Features: orEmpty(sel.Features), With: with}
	data, _ := json.MarshalIndent(p, "", "  ")
	if err := os.MkdirAll(t.profileDir(), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "saved profile %s: %s%s (%s)\n", name, strings.Join(sel.Features, ", "), withText(with), path)
	return nil
}

// offerSave asks, after the interactive walk, whether to keep its
// selection as a profile: a name saves it (the build is then named after
// it), an empty answer or the end of input goes on without. A name that
// is invalid or taken is said and asked again.
func (t *tree) offerSave(sc *bufio.Scanner, w io.Writer, sel manifest.Selection) (string, error) {
	for {
		fmt.Fprint(w, "save this selection as a profile? NAME, or Enter to skip> ")
		if !sc.Scan() {
			fmt.Fprintln(w)
			return "", sc.Err()
		}
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			return "", nil
		}
		path, err := t.profilePath(name)
		if err == nil {
			if _, serr := os.Stat(path); serr == nil {
				err = fmt.Errorf("profile %s exists (%s): choose another name", name, path)
			}
		}
		if err == nil {
			err = t.saveProfile(w, name, "saved from navius build --interactive", sel)
		}
		if err == nil {
			return name, nil
		}
		fmt.Fprintf(w, "  ! %v\n", err)
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

// Generic is the flag's value; the flags after the argument share it with
// those before (oneArg applies the same flags), so a repeated flag holds
// both.
func (a args) Generic(name string) any {
	if a.set(name) {
		return a.after.Lookup(name).Value
	}
	return a.c.Generic(name)
}

// withText renders a profile's modules after its features.
func withText(with []string) string {
	if len(with) == 0 {
		return ""
	}
	return " with " + strings.Join(with, ", ")
}

// IsSet reports whether the flag was given, before or after the argument.
func (a args) IsSet(name string) bool { return a.set(name) || a.c.IsSet(name) }

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
