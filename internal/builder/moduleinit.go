package builder

import (
	"bytes"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/template"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// navius module init scaffolds a provider module that passes verification
// as generated: a small working provider of one kind, its feature file,
// its conformance test and a go.mod that builds against this navius.

//go:embed scaffold/*.tmpl
var scaffoldFS embed.FS

// moduleKinds are what module init scaffolds, in the order --kind lists
// them.
var moduleKinds = []string{"database", "cache", "logsink", "observer"}

func init() { cli.RegisterValues("kind", func() []string { return moduleKinds }) }

func moduleCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:  "module",
		Usage: "write a provider module of your own (navius build --with builds it in)",
		Subcommands: []*ucli.Command{{
			Name:      "init",
			Usage:     "scaffold a provider module that passes verification as generated",
			ArgsUsage: "MODULE_PATH [DIR]",
			Description: "Writes, into DIR (default: the module path's last element; it must be empty or absent),\n" +
				"a module with a small working provider of the kind asked (a database keeping an fsynced\n" +
				"log under a directory, an in-process cache, a log sink writing JSON lines to a file, or a\n" +
				"meter writing its series to a file), its navius-feature.json (schema 2), a conformance\n" +
				"test wired to navius's providertest suites, a README and a go.mod that requires navius at\n" +
				"this binary's version, replaced by the source tree found (--source, or upward from here).\n" +
				"Then: navius build --with MODULE_PATH=DIR.",
			Flags: moduleInitFlags(),
			Action: func(c *ucli.Context) error {
				return runModuleInit(c, env)
			},
		}},
	}
}

func moduleInitFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "kind", Value: "database", Usage: "what the provider is: `KIND` database, cache, logsink or observer"},
		&ucli.StringFlag{Name: "name", Usage: "the feature's, provider's and URL scheme's `NAME` (default: from the module path, navius-widget -> widget)"},
		sourceFlag,
	}
}

// moduleInitArgs reads MODULE_PATH [DIR] with the flags before, between or
// after them (urfave/cli stops at the first argument).
func moduleInitArgs(c *ucli.Context) (pos []string, flags map[string]string, err error) {
	flags = map[string]string{}
	for _, n := range []string{"kind", "name", "source"} {
		if c.IsSet(n) {
			flags[n] = c.String(n)
		}
	}
	fs := flag.NewFlagSet("module init", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, n := range []string{"kind", "name", "source"} {
		fs.String(n, "", "")
	}
	rest := c.Args().Slice()
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return nil, nil, cli.Usagef("module init: %v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	fs.Visit(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	if len(pos) == 0 || len(pos) > 2 {
		return nil, nil, cli.Usagef("module init takes MODULE_PATH [DIR] (got %d arguments), e.g. navius module init example.com/navius-widget", len(pos))
	}
	return pos, flags, nil
}

// scaffold is what the templates are filled with.
type scaffold struct {
	Module, Name, Scheme, Package, EnvName string
	Kind, KindText, Description            string
	GoOptions                              string
	ConfigExample                          string
	NaviusVersion                          string
	// Source is the navius tree go.mod's replace points at ("" when none
	// was found); Dir the module's directory, both absolute.
	Source, Dir string
	// Harnessed: navius's harness opens the provider by URL template.
	Harnessed bool
	feature   thirdparty.Feature
}

func runModuleInit(c *ucli.Context, env *cli.Env) error {
	pos, flags, err := moduleInitArgs(c)
	if err != nil {
		return err
	}
	modPath := pos[0]
	if err := checkModulePath(modPath); err != nil {
		return err
	}
	kind := flags["kind"]
	if kind == "" {
		kind = "database"
	}
	if !slices.Contains(moduleKinds, kind) {
		return cli.Usagef("module init: --kind %q: use one of %s", kind, strings.Join(moduleKinds, ", "))
	}
	name := flags["name"]
	if name == "" {
		name = defaultModuleName(modPath)
		if err := thirdparty.CheckFeatureName(name); err != nil {
			return cli.Usagef("module init: the feature name %q taken from %s won't do (%v): give one with --name NAME", name, modPath, err)
		}
	}
	if err := thirdparty.CheckFeatureName(name); err != nil {
		return cli.Usagef("module init: --name %q: %v", name, err)
	}
	if env.Manifest != nil && env.Manifest.Feature(name) != nil {
		return cli.Usagef("module init: --name %q is one of navius's own features: pick another, e.g. --name acme_%s", name, name)
	}
	dir := path2dir(modPath)
	if len(pos) == 2 {
		dir = pos[1]
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return cli.Usagef("module init: %s: %v", dir, err)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return cli.Usagef("module init: %s is not empty: give a new or empty directory", dir)
	} else if st, serr := os.Stat(abs); serr == nil && !st.IsDir() {
		return cli.Usagef("module init: %s is a file: give a new or empty directory", dir)
	}
	source := ""
	if given := flags["source"]; given != "" {
		if source, err = build.FindSource(given); err != nil || !sameDir(source, given) {
			return cli.Usagef("--source %s is not a navius source tree (no features.json and go.mod there)", given)
		}
	} else if found, err := build.FindSource("."); err == nil {
		source = found
	}
	s := newScaffold(modPath, name, kind, source, abs)
	files, err := s.files()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return cli.Usagef("module init: %v", err)
	}
	names := slices.Sorted(maps.Keys(files))
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(abs, n), files[n], 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "module:   %s, a %s (feature %s), in %s: %s\n", modPath, s.KindText, name, abs, strings.Join(names, ", "))
	if source != "" {
		fmt.Fprintf(env.Stdout, "navius:   %s, replaced by %s\n", s.NaviusVersion, source)
	} else {
		fmt.Fprintf(env.Stdout, "navius:   %s; no navius source tree found, so no replace: see the README's go.work recipe\n", s.NaviusVersion)
	}
	fmt.Fprintf(env.Stdout, "next:     cd %s && go test ./...\n          navius build --features memory --with %s=%s\n", abs, modPath, abs)
	return nil
}

var moduleElemRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// checkModulePath refuses what go.mod would not take as a module path, or
// what could not be fetched: the first element must be a domain.
func checkModulePath(p string) error {
	elems := strings.Split(p, "/")
	bad := p == "" || len(p) > 200
	for _, e := range elems {
		bad = bad || !moduleElemRE.MatchString(e) || e == "." || e == ".." || strings.HasPrefix(e, ".") || strings.HasSuffix(e, ".")
	}
	if bad || !strings.Contains(elems[0], ".") || strings.ToLower(elems[0]) != elems[0] {
		return cli.Usagef("module init: %q is not a module path: give one like example.com/navius-widget or github.com/you/navius-widget", p)
	}
	return nil
}

// defaultModuleName is the module path's last element (a /vN suffix
// skipped) without a navius- prefix, as a feature name.
func defaultModuleName(p string) string {
	last := path2dir(p)
	last = strings.TrimPrefix(strings.TrimPrefix(last, "navius-"), "navius_")
	return strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(last))
}

var majorRE = regexp.MustCompile(`^v[0-9]+$`)

// path2dir is the module path's last element that is not a major version.
func path2dir(p string) string {
	elems := strings.Split(p, "/")
	last := elems[len(elems)-1]
	if majorRE.MatchString(last) && len(elems) > 1 {
		last = elems[len(elems)-2]
	}
	return last
}

// semverRE is a version go.mod can require (no +build suffix).
var semverRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// naviusRequirement is the version go.mod requires: this binary's, or,
// for a binary without one ("dev"), the zero pseudo-version a replace
// stands in for.
func naviusRequirement() string {
	v := buildinfo.Read().Version
	if !strings.HasPrefix(v, "v") {
		v = "v" + v // make stamps a git describe without its v: 0.0.0-b168045
	}
	if semverRE.MatchString(v) {
		return v
	}
	return "v0.0.0-00010101000000-000000000000"
}

// kindOptions are the options each kind's provider declares.
func kindOptions(kind, name string) []thirdparty.Option {
	switch kind {
	case "database":
		return []thirdparty.Option{{Key: name + ".sync", Type: "bool", Default: "true",
			Description: "fsync the log before acknowledging a write or delete; false trades durability on power loss for speed (scratch data, tests)."}}
	case "logsink":
		return []thirdparty.Option{
			{Key: name + ".path", Type: "string", Description: "the file the sink appends entries to, one JSON line each; empty leaves the sink off."},
			{Key: name + ".level", Type: "enum", Default: "info", Enum: []string{"trace", "debug", "info", "warn", "error", "fatal"},
				Description: "the least severe level the sink receives."},
		}
	case "observer":
		return []thirdparty.Option{{Key: name + ".path", Type: "string",
			Description: "the JSON file the meter writes its series to on shutdown; empty leaves the provider off."}}
	}
	return nil
}

func newScaffold(modPath, name, kind, source, dir string) *scaffold {
	s := &scaffold{Module: modPath, Name: name, Scheme: strings.ReplaceAll(name, "_", "-"), Package: name,
		EnvName: strings.ToUpper(name), Kind: kind, NaviusVersion: naviusRequirement(), Source: source, Dir: dir}
	// The options go into Go only: the feature file leaves them out.
	f := thirdparty.Feature{Name: name, Requires: []string{}, Schemes: []string{}, Package: modPath, ConformanceTest: "TestConformance"}
	switch kind {
	case "database":
		s.KindText = "database provider"
		f.Category, f.Provides, f.Schemes = "storage", []string{"database:" + name}, []string{"database:" + s.Scheme}
		f.Description = fmt.Sprintf("Database kept in memory and in an append-only log under a directory (%s:///var/lib/navius/data), fsynced before each write is acknowledged.", s.Scheme)
		f.Conformance, f.Durable = map[string]thirdparty.Instance{"database": {URL: s.Scheme + "://{dir}/data"}}, true
		s.ConfigExample = fmt.Sprintf("database:\n  url: %s:///var/lib/navius/data\n%s:\n  sync: true", s.Scheme, name)
	case "cache":
		s.KindText = "cache provider"
		f.Category, f.Provides, f.Schemes = "storage", []string{"cache:" + name}, []string{"cache:" + s.Scheme}
		f.Description = fmt.Sprintf("In-process cache (%s://) bounded by bytes, evicting the least recently used entries, with TTLs.", s.Scheme)
		f.Conformance = map[string]thirdparty.Instance{"cache": {URL: s.Scheme + "://"}}
		s.ConfigExample = fmt.Sprintf("cache:\n  url: %s://", s.Scheme)
	case "logsink":
		s.KindText, s.Scheme = "log sink", ""
		f.Category, f.Provides = "logging", []string{"logging:" + name}
		f.Description = fmt.Sprintf("Log sink appending every entry to a file as a JSON line (%s.path).", name)
		f.Conformance = map[string]thirdparty.Instance{"logging": {Options: map[string]string{name + ".path": "{dir}/entries.jsonl"}, Read: "ReadEntries"}}
		s.ConfigExample = fmt.Sprintf("%s:\n  path: /var/log/navius/entries.jsonl\n  level: info", name)
	case "observer":
		s.KindText, s.Scheme = "observability provider", ""
		f.Category, f.Provides = "observability", []string{"observability:" + name}
		f.Description = fmt.Sprintf("Meter writing every metric series to a JSON file on shutdown (%s.path).", name)
		f.Conformance = map[string]thirdparty.Instance{"observability": {Options: map[string]string{name + ".path": "{dir}/metrics.json"}, Read: "ReadMetric"}}
		s.ConfigExample = fmt.Sprintf("%s:\n  path: /var/lib/navius/metrics.json", name)
	}
	s.Description, s.Harnessed, s.feature = f.Description, len(f.Conformance) > 0, f
	s.GoOptions = goOptions(kindOptions(kind, name))
	return s
}

// goOptions renders options as a []providers.Option literal.
func goOptions(opts []thirdparty.Option) string {
	if len(opts) == 0 {
		return "[]providers.Option{}"
	}
	var b strings.Builder
	b.WriteString("[]providers.Option{\n")
	for _, o := range opts {
		fmt.Fprintf(&b, "\t{Key: %q, Type: providers.%s", o.Key, goOptionType(o.Type))
		if o.Default != "" {
			fmt.Fprintf(&b, ", Default: %q", o.Default)
		}
		if len(o.Enum) > 0 {
			fmt.Fprintf(&b, ", Enum: %#v", o.Enum)
		}
		if o.Secret {
			b.WriteString(", Secret: true")
		}
		fmt.Fprintf(&b, ",\n\t\tDescription: %q},\n", o.Description)
	}
	return b.String() + "}"
}

func goOptionType(t string) string {
	if t == "url" {
		return "URL"
	}
	return strings.ToUpper(t[:1]) + t[1:]
}

// files renders the module's files by name.
func (s *scaffold) files() (map[string][]byte, error) {
	out := map[string][]byte{}
	render := func(tmpl, name string) error {
		t, err := template.ParseFS(scaffoldFS, "scaffold/"+tmpl)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, s); err != nil {
			return fmt.Errorf("module init: %s: %v", tmpl, err)
		}
		out[name] = b.Bytes()
		return nil
	}
	for tmpl, name := range map[string]string{s.Kind + ".go.tmpl": s.Package + ".go", s.Kind + "_test.go.tmpl": "conformance_test.go", "README.md.tmpl": "README.md"} {
		if err := render(tmpl, name); err != nil {
			return nil, err
		}
	}
	feature, err := json.MarshalIndent(thirdparty.File{Schema: thirdparty.Schema, Features: []thirdparty.Feature{s.feature}}, "", "  ")
	if err != nil {
		return nil, err
	}
	feature = compactLists(feature)
	// What is written must be what the builder reads.
	if _, err := thirdparty.Parse(thirdparty.FileName, feature); err != nil {
		return nil, fmt.Errorf("module init: the generated feature file: %v", err)
	}
	out[thirdparty.FileName] = append(feature, '\n')
	gomod := fmt.Sprintf("module %s\n\ngo %s\n\nrequire %s %s\n", s.Module, goVersion(s.Source), build.Module, s.NaviusVersion)
	if s.Source != "" {
		gomod += fmt.Sprintf("\n// Builds against the navius tree that generated the module (see README.md\n// for a go.work instead); navius build --with ignores it.\nreplace %s => %s\n", build.Module, replacePath(s.Dir, s.Source))
	}
	out["go.mod"] = []byte(gomod)
	return out, nil
}

// goVersion is the go directive: the navius tree's, else this toolchain's
// language version.
func goVersion(source string) string {
	if data, err := os.ReadFile(filepath.Join(source, "go.mod")); err == nil && source != "" {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "go "); ok {
				return v
			}
		}
	}
	v := strings.TrimPrefix(runtime.Version(), "go")
	if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
		return parts[0] + "." + parts[1] + ".0"
	}
	return v
}

// replacePath is the tree as seen from the module: relative when the
// module is inside it, else absolute.
func replacePath(moduleDir, source string) string {
	if rel, err := filepath.Rel(moduleDir, source); err == nil && strings.HasPrefix(moduleDir, source+string(filepath.Separator)) {
		return filepath.ToSlash(rel)
	}
	return source
}

var stringListRE = regexp.MustCompile(`\[\s+"(?:[^"\\]|\\.)*"(?:,\s+"(?:[^"\\]|\\.)*")*\s+\]`)

// compactLists puts indented JSON's lists of strings on one line each, as
// people write them.
func compactLists(data []byte) []byte {
	return stringListRE.ReplaceAllFunc(data, func(m []byte) []byte {
		var list []string
		if json.Unmarshal(m, &list) != nil {
			return m
		}
		quoted := make([]string, len(list))
		for i, s := range list {
			q, _ := json.Marshal(s)
			quoted[i] = string(q)
		}
		return []byte("[" + strings.Join(quoted, ", ") + "]")
	})
}
