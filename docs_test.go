package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/builder"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/dynatrace"
	"github.com/navius-dev/navius/providers/postgres"
	"github.com/navius-dev/navius/providers/pprof"
	"github.com/navius-dev/navius/providers/redis"
	"github.com/navius-dev/navius/providers/splunk"
)

// The docs are held to the code here: the README's features table to
// features.json, the generated option and endpoint references to the
// options providers declare and to features.json's endpoints, every option
// key the prose names to a declared option, and every link to a page (and
// heading) that exists, no page more than two clicks from the README.

var update = flag.Bool("update", false, "rewrite the generated parts of the docs (go test -run TestGeneratedDocs -update .)")

// docPages are the Markdown files the README leads to: itself, docs/ and a
// README beside each provider.
func docPages(t *testing.T) []string {
	t.Helper()
	pages := []string{"README.md"}
	for _, glob := range []string{"docs/*.md", "providers/*/README.md"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, files...)
	}
	return pages
}

// notCompiled are the options of the features this test binary, built with
// the default tags, does not compile in: their packages declare them all
// the same.
var notCompiled = map[string][]providers.Option{
	"redis": redis.Options, "postgres": postgres.Options, "splunk": splunk.Options,
	"dynatrace": dynatrace.Options, "pprof": pprof.Options,
}

// allOptions are the options of navius and every feature, as each
// declares them. A default that follows the build or the machine (database
// URL, pool size) is its rule, not this test binary's value.
func allOptions(t *testing.T) []cli.OptionRow {
	t.Helper()
	opts := providers.Options() // the core's and the default features'
	for _, f := range loadManifest(t).Features {
		if slices.Contains(buildinfo.Compiled(), f.Name) {
			continue
		}
		more, ok := notCompiled[f.Name]
		gate, _ := os.ReadFile("providers_" + f.Name + ".go")
		if !ok && strings.Contains(string(gate), "DeclareOptions(") {
			t.Fatalf("feature %s declares options: add them to notCompiled in docs_test.go", f.Name)
		}
		for _, o := range more {
			o.Feature = f.Name
			opts = append(opts, o)
		}
	}
	for i, o := range opts {
		if o.DefaultFunc != nil {
			opts[i].DefaultFunc = nil // its Default says the rule
		}
	}
	rows := cli.RowsOf(opts)
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}

// generated renders what a generated part holds: "options all", "options
// FEATURE" (core for navius's own), "endpoints all".
func generated(t *testing.T, spec string) (string, error) {
	t.Helper()
	m := loadManifest(t)
	rows := allOptions(t)
	of := func(owner string) []cli.OptionRow {
		var out []cli.OptionRow
		for _, r := range rows {
			if r.Feature == owner {
				out = append(out, r)
			}
		}
		return out
	}
	kind, what, _ := strings.Cut(spec, " ")
	var b strings.Builder
	switch {
	case kind == "options" && what == "all":
		fmt.Fprintf(&b, "### Core\n\n%s", builder.OptionTable(of("core")))
		for _, f := range m.Features {
			if opts := of(f.Name); len(opts) > 0 {
				fmt.Fprintf(&b, "\n### Feature `%s`\n\n%s", f.Name, builder.OptionTable(opts))
			}
		}
	case kind == "options":
		if what != "core" && m.Feature(what) == nil {
			return "", fmt.Errorf("no feature %q", what)
		}
		b.WriteString(builder.OptionTable(of(what)))
	case kind == "endpoints" && what == "all":
		fmt.Fprintf(&b, "### Core\n\n%s", builder.EndpointTable(m.Core.Endpoints))
		for _, f := range m.Features {
			if len(f.Endpoints) > 0 {
				fmt.Fprintf(&b, "\n### Feature `%s`\n\n%s", f.Name, builder.EndpointTable(f.Endpoints))
			}
		}
	default:
		return "", fmt.Errorf("unknown generated part %q (options all|core|FEATURE, endpoints all)", spec)
	}
	return b.String(), nil
}

var generatedRE = regexp.MustCompile(`(?s)(<!-- generated: ([a-z]+ [a-z]+) [^\n]*-->\n)(.*?)(<!-- end generated -->)`)

// TestGeneratedDocs holds the generated parts of the docs to the code;
// with -update it rewrites them.
func TestGeneratedDocs(t *testing.T) {
	parts := 0
	for _, page := range docPages(t) {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		out := generatedRE.ReplaceAllStringFunc(string(data), func(block string) string {
			m := generatedRE.FindStringSubmatch(block)
			parts++
			want, err := generated(t, m[2])
			if err != nil {
				problems = append(problems, err.Error())
				return block
			}
			if m[3] != want {
				problems = append(problems, fmt.Sprintf("the generated %q differs from what the code gives", m[2]))
			}
			return m[1] + want + m[4]
		})
		if *update && out != string(data) {
			if err := os.WriteFile(page, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, p := range problems {
			t.Errorf("%s: %s; rewrite it: go test -run TestGeneratedDocs -update .", page, p)
		}
	}
	if parts < 3 {
		t.Fatalf("only %d generated parts in the docs: the option and endpoint references are gone", parts)
	}
}

// TestDocsListEveryOption: every option is in the option reference
// (docs/CONFIGURATION.md) and, for a feature's, on its provider's page; and
// every option key the docs name in `code` is one that exists, so that a
// renamed or removed option cannot linger in prose.
func TestDocsListEveryOption(t *testing.T) {
	rows := allOptions(t)
	ref, err := os.ReadFile("docs/CONFIGURATION.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	sections := map[string]bool{}
	for _, r := range rows {
		keys[r.Key] = true
		sections[strings.SplitN(r.Key, ".", 2)[0]] = true
		if !strings.Contains(string(ref), "`"+r.Key+"`") {
			t.Errorf("docs/CONFIGURATION.md does not document option %s", r.Key)
		}
		if page := filepath.Join("providers", r.Feature, "README.md"); r.Feature != "core" {
			if data, err := os.ReadFile(page); err == nil && !strings.Contains(string(data), "`"+r.Key+"`") {
				t.Errorf("%s does not document option %s", page, r.Key)
			}
		}
	}
	named := regexp.MustCompile("`([a-z]+(?:\\.[a-z0-9_]+)+)(?:[:=][^`]*)?`")
	for _, page := range docPages(t) {
		data, _ := os.ReadFile(page)
		for _, m := range named.FindAllStringSubmatch(string(data), -1) {
			key := m[1]
			section := strings.SplitN(key, ".", 2)[0]
			// A key of a known section that names no option (a section
			// prefix like server.tls is fine).
			if sections[section] && !keys[key] && !slices.ContainsFunc(rows, func(r cli.OptionRow) bool { return strings.HasPrefix(r.Key, key+".") }) {
				t.Errorf("%s names option %s, which no feature declares", page, key)
			}
		}
	}
}

// TestDocsListEveryEndpoint: every endpoint of features.json is in
// docs/API.md.
func TestDocsListEveryEndpoint(t *testing.T) {
	api, err := os.ReadFile("docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	m := loadManifest(t)
	eps := m.Core.Endpoints
	for _, f := range m.Features {
		eps = append(eps, f.Endpoints...)
	}
	for _, e := range eps {
		if !strings.Contains(string(api), "| "+e.Method+" | `"+e.Path+"` |") {
			t.Errorf("docs/API.md does not list %s %s", e.Method, e.Path)
		}
	}
}

// TestDocsListEveryFeature keeps the README's features table in step with
// features.json, each row linking the feature's page.
func TestDocsListEveryFeature(t *testing.T) {
	m := loadManifest(t)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The rows of the table under the "### Features" heading.
	_, section, _ := strings.Cut(string(readme), "\n### Features\n")
	section, _, _ = strings.Cut(section, "\n#")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, "|")
			name := strings.Trim(cells[1], " `")
			rows = append(rows, name)
			if !strings.Contains(cells[len(cells)-2], "](") {
				t.Errorf("README.md's features table does not link the page of %s", name)
			}
		}
	}
	for _, f := range m.Features {
		if !slices.Contains(rows, f.Name) {
			t.Errorf("README.md's features table has no row for %s", f.Name)
		}
	}
	for _, r := range rows {
		if m.Feature(r) == nil {
			t.Errorf("README.md's features table lists %q, which features.json does not have", r)
		}
	}
}

// TestDocsYAMLExamples: every YAML example of the docs is a config file
// navius reads, and sets only options that exist (keys of a section no
// navius feature has, such as the example module's fsdb.sync, are its
// module's own).
func TestDocsYAMLExamples(t *testing.T) {
	keys, sections := map[string]bool{}, map[string]bool{}
	for _, r := range allOptions(t) {
		keys[r.Key] = true
		sections[strings.SplitN(r.Key, ".", 2)[0]] = true
	}
	examples := 0
	for _, page := range docPages(t) {
		data, _ := os.ReadFile(page)
		for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
			examples++
			file := filepath.Join(t.TempDir(), "example.yaml")
			os.WriteFile(file, []byte(m[1]), 0o644)
			entries, err := config.FileEntries(file)
			if err != nil {
				t.Errorf("%s: a YAML example navius cannot read: %v\n%s", page, err, m[1])
				continue
			}
			for _, e := range entries {
				if sections[strings.SplitN(e.Key, ".", 2)[0]] && !keys[e.Key] {
					t.Errorf("%s: a YAML example sets %s (its line %d), which is no option", page, e.Key, e.Line)
				}
			}
		}
	}
	if examples == 0 {
		t.Fatal("no YAML example in the docs")
	}
}

var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinks: every relative link of the docs reaches a file (and, with
// #, a heading of it), and every page is at most two clicks from the
// README.
func TestDocLinks(t *testing.T) {
	pages := docPages(t)
	links := map[string][]string{}
	for _, page := range pages {
		data, _ := os.ReadFile(page)
		for _, m := range linkRE.FindAllStringSubmatch(stripCode(string(data)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s links %s, which does not exist", page, target)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") && !slices.Contains(anchors(t, path), anchor) {
				t.Errorf("%s links %s: %s has no heading #%s", page, target, path, anchor)
			}
			links[page] = append(links[page], filepath.Clean(path))
		}
	}
	reached := map[string]int{"README.md": 0}
	frontier := []string{"README.md"}
	for depth := 1; depth <= 2; depth++ {
		var next []string
		for _, p := range frontier {
			for _, l := range links[p] {
				if _, seen := reached[l]; !seen {
					reached[l] = depth
					next = append(next, l)
				}
			}
		}
		frontier = next
	}
	for _, page := range pages {
		if _, ok := reached[page]; !ok {
			t.Errorf("%s is more than two clicks from README.md: link it from the README or a page it links", page)
		}
	}
}

// stripCode drops fenced code blocks, whose brackets are no links.
func stripCode(s string) string {
	var out []string
	fence := false
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if !fence {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// anchors are the GitHub anchors of a page's headings.
func anchors(t *testing.T, page string) []string {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(stripCode(string(data)), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		var b strings.Builder
		for _, r := range title {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}
