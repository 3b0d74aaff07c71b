package builder

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
)

// catalogEntry is one feature in navius features --json.
type catalogEntry struct {
	Name        string   `json:"name"`
	Category    string   `json:"category"`
	Description string   `json:"description"`
	Default     bool     `json:"default"`
	Compiled    bool     `json:"compiled"`
	Tag         string   `json:"tag"`
	Requires    []string `json:"requires"`
	Provides    []string `json:"provides"`
	Modules     []string `json:"modules"`
	// Module is the Go module of a feature from outside navius (navius
	// build --with), which has no build tag.
	Module string `json:"module,omitempty"`
	// SizeImpact is bytes, or null until make sizes has measured it.
	SizeImpact *int64 `json:"size_impact"`
}

func featuresCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:  "features",
		Usage: "list every navius feature, marking those compiled into this binary",
		Description: "The catalog comes from the features.json embedded in this binary: [x] compiled in, [ ] not,\n" +
			"with the build tag that brings each feature, what it requires and its measured size impact.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "category", Usage: "only features of category `C`"},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return cli.Usagef("features takes no arguments (got %q); use --category", c.Args().First())
			}
			return printCatalog(env, c.String("category"), c.Bool("json"))
		},
	}
}

func printCatalog(env *cli.Env, category string, asJSON bool) error {
	m := env.Manifest
	cats := m.Categories()
	if category != "" && !slices.Contains(cats, category) {
		return cli.Usagef("unknown category %q; categories: %s", category, strings.Join(cats, ", "))
	}
	compiled := buildinfo.Compiled()
	var entries []catalogEntry
	for _, f := range m.Features {
		if category != "" && f.Category != category {
			continue
		}
		entries = append(entries, catalogEntry{
			Name: f.Name, Category: f.Category, Description: f.Description, Default: f.Default,
			Compiled: slices.Contains(compiled, f.Name), Tag: f.Name, Module: f.Module,
			Requires: orEmpty(f.Requires), Provides: orEmpty(f.Provides), Modules: orEmpty(f.Modules), SizeImpact: f.SizeImpact,
		})
		if f.Module != "" {
			entries[len(entries)-1].Tag = ""
		}
	}
	if asJSON {
		return cli.PrintJSON(env.Stdout, entries)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	for _, cat := range cats {
		if category != "" && cat != category {
			continue
		}
		fmt.Fprintf(tw, "%s\n", cat)
		for _, e := range entries {
			if e.Category != cat {
				continue
			}
			mark := "[ ]"
			if e.Compiled {
				mark = "[x]"
			}
			req := "-"
			if len(e.Requires) > 0 {
				req = strings.Join(e.Requires, ",")
			}
			def := ""
			if e.Default {
				def = " (default)"
			}
			from := "tag " + e.Tag
			if e.Module != "" {
				from = "module " + e.Module + " (non-standard)"
			}
			fmt.Fprintf(tw, "  %s %s%s\t%s\trequires %s\t%s\t%s\n", mark, e.Name, def, from, req, SizeText(e.SizeImpact), e.Description)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	core := "unmeasured"
	if m.Core.SizeImpact != nil {
		core = human(*m.Core.SizeImpact)
	}
	var own []string // navius's features: those of other modules come with --with
	for _, f := range m.Features {
		if slices.Contains(compiled, f.Name) && f.Module == "" {
			own = append(own, f.Name)
		}
	}
	with := ""
	for _, w := range buildinfo.WithArgs() {
		with += " --with " + w
	}
	fmt.Fprintf(env.Stdout, "\ncore (always compiled in): %s. Build this binary's features plus others with: navius build --features %s%s\n",
		core, manifest.RebuildSpec(own, "<name>"), with)
	return nil
}

// SizeText renders a size impact, "unmeasured" until make sizes measured it.
func SizeText(n *int64) string {
	if n == nil {
		return "size unmeasured"
	}
	return "+" + human(*n)
}

func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// catalogLines renders the features of m by category with [x]/[ ] for
// selected, for interactive selection; only, when not empty, limits it to
// that category. Descriptions wrap at word boundaries to fit width columns.
func catalogLines(m *manifest.Manifest, selected map[string]bool, only string, width int) string {
	type row struct{ cat, name, size, req, desc string }
	var rows []row
	var nameW, sizeW, reqW int
	for _, f := range m.Features {
		if only != "" && f.Category != only {
			continue
		}
		mark := "[ ]"
		if selected[f.Name] {
			mark = "[x]"
		}
		req := ""
		if len(f.Requires) > 0 {
			req = "requires " + strings.Join(f.Requires, ", ")
		}
		r := row{f.Category, mark + " " + f.Name, SizeText(f.SizeImpact), req, f.Description}
		nameW, sizeW, reqW = max(nameW, len(r.name)), max(sizeW, len(r.size)), max(reqW, len(r.req))
		rows = append(rows, r)
	}
	indent := 2 + nameW + 2 + sizeW + 2
	if reqW > 0 {
		indent += reqW + 2
	}
	var b strings.Builder
	for _, cat := range m.Categories() {
		if only != "" && cat != only {
			continue
		}
		fmt.Fprintf(&b, "%s\n", cat)
		for _, r := range rows {
			if r.cat != cat {
				continue
			}
			prefix := fmt.Sprintf("  %-*s  %-*s  ", nameW, r.name, sizeW, r.size)
			if reqW > 0 {
				prefix += fmt.Sprintf("%-*s  ", reqW, r.req)
			}
			for i, line := range wrap(r.desc, width-indent) {
				if i > 0 {
					prefix = strings.Repeat(" ", indent)
				}
				b.WriteString(strings.TrimRight(prefix+line, " ") + "\n")
			}
		}
	}
	return b.String()
}

// wrap breaks text at spaces into lines of at most width runes (a word
// longer than that gets a line of its own); a width under 20 is taken as 20.
func wrap(text string, width int) []string {
	width = max(width, 20)
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// termWidth is the width to wrap output for w at: $COLUMNS, else the
// terminal's width when w is one, else 80.
func termWidth(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := w.(*os.File); ok {
		if n := terminalColumns(f); n > 0 {
			return n
		}
	}
	return 80
}
