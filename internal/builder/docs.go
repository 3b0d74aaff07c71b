package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/openapi"
	"github.com/navius-dev/navius/providers"
)

func docsCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:  "docs",
		Usage: "generate documentation for a feature set: index, a page per feature, config and API reference",
		Description: "Without --features or --profile it documents this binary. Otherwise it builds the selection\n" +
			"for this machine and documents that binary, so that the config reference comes from the\n" +
			"options the selected providers declare — the declarations that also validate config.",
		Flags: append(selectionFlags(),
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "dist/docs", Usage: "write the pages into `DIR`"},
			sourceFlag, naviusFlag,
		),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return cli.Usagef("docs takes no arguments (got %q)", c.Args().First())
			}
			f, m, err := docsFacts(c, env)
			if err != nil {
				return err
			}
			pages := renderDocs(m, f)
			out := c.String("output")
			if err := writeDocs(out, pages); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "wrote %d pages for features %s into %s\n", len(pages), strings.Join(f.Report.Names(), ", "), out)
			return nil
		},
	}
}

// docsFacts finds what to document: this binary, when no selection is
// given or, outside a source tree, the selection is this binary's own
// (which needs no source), else a host build of the selection from the
// source tree or a fetched navius (openSource).
func docsFacts(c *ucli.Context, env *cli.Env) (facts, *manifest.Manifest, error) {
	if !c.IsSet("features") && !c.IsSet("profile") && !c.IsSet("navius") {
		return selfFacts(env.Manifest), env.Manifest, nil
	}
	if _, err := build.FindSource("."); err != nil && c.IsSet("features") && !c.IsSet("source") && !c.IsSet("navius") {
		if own, rerr := env.Manifest.Resolve(c.String("features")); rerr == nil && slices.Equal(own.Features, buildinfo.Compiled()) {
			return selfFacts(env.Manifest), env.Manifest, nil
		}
	}
	t, err := openSource(c.Context, env.Stdout, c)
	if err != nil {
		return facts{}, nil, err
	}
	ch, ok, err := t.resolve(c, c.Command.Name)
	if err != nil {
		return facts{}, nil, err
	}
	if !ok {
		ch = t.defaults() // --navius alone: that version's defaults
	}
	f, err := t.factsFor(c.Context, ch.sel, env.Manifest)
	return f, t.manifest, err
}

// generatedList names the file, in the output directory, that lists the
// pages navius docs wrote there, one relative path a line.
const generatedList = ".navius-docs"

// writeDocs writes pages into out and removes the pages an earlier run
// wrote there that this one does not (a feature no longer selected), as
// listed in out/.navius-docs. It never removes a file it did not write.
func writeDocs(out string, pages map[string]string) error {
	old, err := os.ReadFile(filepath.Join(out, generatedList))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, name := range strings.Split(string(old), "\n") {
		if _, keep := pages[name]; keep || !filepath.IsLocal(name) {
			continue
		}
		if err := os.Remove(filepath.Join(out, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	names := make([]string, 0, len(pages))
	for name, text := range pages {
		p := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return os.WriteFile(filepath.Join(out, generatedList), []byte(strings.Join(names, "\n")+"\n"), 0o644)
}

// renderDocs renders the pages of a build from what its binary reports and
// what features.json says of its features. Secret options appear only as
// placeholders; values are never read from any config.
func renderDocs(m *manifest.Manifest, f facts) map[string]string {
	names := f.Report.Names()
	pages := map[string]string{}
	var idx strings.Builder
	fmt.Fprintf(&idx, "# navius %s\n\n", f.Report.Version)
	fmt.Fprintf(&idx, "Built with %s for %s; build tags `%s`.\n\n", f.Report.GoVersion, f.Report.Platform, strings.Join(f.Report.BuildTags, ","))
	idx.WriteString("## Features in this build\n\n")
	if len(names) == 0 {
		idx.WriteString("None: the core alone.\n")
	}
	for _, cf := range f.Report.Features {
		desc := ""
		if mf := m.Feature(cf.Name); mf != nil {
			desc = mf.Description
		}
		fmt.Fprintf(&idx, "- [%s](features/%s.md): %s\n", cf.Name, cf.Name, desc)
	}
	idx.WriteString("\n## Reference\n\n- [Configuration](config.md): every option, its default and environment variable\n- [HTTP API](api.md): the endpoints this build serves ([OpenAPI 3.1](openapi.json))\n")
	pages["index.md"] = idx.String()

	for _, cf := range f.Report.Features {
		mf := m.Feature(cf.Name)
		if mf == nil {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "# Feature `%s`\n\n%s\n\n", mf.Name, mf.Description)
		fmt.Fprintf(&b, "- Category: %s\n- Build tag: `%s`\n- Default: %v\n", mf.Category, mf.Name, mf.Default)
		fmt.Fprintf(&b, "- Requires: %s\n- Provides: %s\n- Size impact: %s\n", list(mf.Requires), list(mf.Provides), SizeText(mf.SizeImpact))
		for _, p := range mf.Provides {
			if caps, ok := cf.Capabilities[p]; ok {
				fmt.Fprintf(&b, "- Capabilities of `%s`: %s\n", p, capabilityText(caps))
			}
		}
		if len(cf.Modules) > 0 {
			b.WriteString("- Modules:")
			for _, mod := range cf.Modules {
				fmt.Fprintf(&b, " `%s %s`", mod.Path, mod.Version)
			}
			b.WriteString("\n")
		}
		if opts := optionsOf(f.Options, mf.Name); len(opts) > 0 {
			b.WriteString("\n## Options\n\n")
			b.WriteString(OptionTable(opts))
		}
		if len(mf.Endpoints) > 0 {
			b.WriteString("\n## Endpoints\n\n")
			b.WriteString(EndpointTable(mf.Endpoints))
		}
		pages["features/"+mf.Name+".md"] = b.String()
	}

	var cfg strings.Builder
	cfg.WriteString("# Configuration reference\n\nSettings come from, in rising precedence: these defaults, a YAML file (`--config`),\n" +
		"the environment variables and the serve flags named here. Secret options (marked so in the\n" +
		"type) have no default: set them through their environment variable.\n\n")
	for _, owner := range append([]string{"core"}, names...) {
		opts := optionsOf(f.Options, owner)
		if len(opts) == 0 {
			continue
		}
		title := "Core"
		if owner != "core" {
			title = "Feature `" + owner + "`"
		}
		fmt.Fprintf(&cfg, "## %s\n\n%s\n", title, OptionTable(opts))
	}
	pages["config.md"] = cfg.String()

	var api strings.Builder
	api.WriteString("# HTTP API\n\nErrors are JSON: `{\"error\":{\"code\":\"...\",\"message\":\"...\",\"request_id\":\"...\"}}`. With\n" +
		"authentication on (auth.tokens or auth.token_hashes), endpoints with a scope need a bearer\n" +
		"token granting it (admin grants all).\n\n")
	api.WriteString(EndpointTable(m.Core.Endpoints))
	for _, n := range names {
		if mf := m.Feature(n); mf != nil && len(mf.Endpoints) > 0 {
			fmt.Fprintf(&api, "\n## Feature `%s`\n\n%s", n, EndpointTable(mf.Endpoints))
		}
	}
	pages["api.md"] = api.String()
	// The same endpoints as OpenAPI 3.1, as the binary serves them at
	// /openapi.json with the default options.
	if doc, err := openapi.Build(openapi.Input{Manifest: m, Features: names, Version: f.Report.Version}); err == nil {
		pages["openapi.json"] = string(doc)
	}
	return pages
}

func optionsOf(rows []cli.OptionRow, feature string) []cli.OptionRow {
	var out []cli.OptionRow
	for _, r := range rows {
		if r.Feature == feature {
			out = append(out, r)
		}
	}
	return out
}

// OptionTable renders options as a Markdown table: key, type (with an
// enum's choices, bounds, secret), default, environment variable, flag and
// description. navius docs and the repository's docs (consistency_test.go)
// both use it.
func OptionTable(rows []cli.OptionRow) string {
	var b strings.Builder
	b.WriteString("| key | type | default | environment | flag | description |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		// A secret has no default to show: it is said in the type.
		def := "`" + r.Default + "`"
		if r.Default == "" || r.Secret {
			def = ""
		}
		typ := r.Type
		if r.Secret {
			typ += ", secret"
		}
		if len(r.Enum) > 0 {
			typ += ": " + strings.Join(r.Enum, ", ")
		}
		switch {
		case r.Min != "" && r.Max != "":
			typ += ", " + r.Min + " to " + r.Max
		case r.Min != "":
			typ += ", at least " + r.Min
		case r.Max != "":
			typ += ", at most " + r.Max
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` | `%s` | %s |\n", r.Key, typ, def, r.Env, r.Flag, cell(r.Description))
	}
	return b.String()
}

// EndpointTable renders endpoints as a Markdown table: method, path,
// listener, scope and description.
func EndpointTable(eps []manifest.Endpoint) string {
	var b strings.Builder
	b.WriteString("| method | path | listener | scope | description |\n|---|---|---|---|---|\n")
	for _, e := range eps {
		listener := e.Listener
		if listener == "" {
			listener = "api"
		}
		scope := e.Scope
		if scope == "" {
			scope = "open"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s |\n", e.Method, e.Path, listener, scope, cell(e.Description))
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// capabilityText explains a database provider's optional capabilities.
func capabilityText(caps []string) string {
	if len(caps) == 0 {
		return "none beyond get, set, delete and query (conditional writes, ttl and batches get 501)"
	}
	what := map[string]string{
		providers.CapConditional: "conditional writes (ETag, If-Match, If-None-Match)",
		providers.CapExpiry:      "per-key expiry (ttl)",
		providers.CapBatch:       "atomic batches (POST /api/v1/_batch)",
	}
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = what[c]
		if out[i] == "" {
			out[i] = c
		}
	}
	return strings.Join(out, "; ")
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	q := slices.Clone(s)
	for i := range q {
		q[i] = "`" + q[i] + "`"
	}
	return strings.Join(q, ", ")
}
