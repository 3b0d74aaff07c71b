package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
)

// WithFile is the name the generated import file takes in the main
// package's directory; it exists only in the build's overlay.
const WithFile = "zz_navius_with.go"

// LoadModules reads the --with arguments (MODULE[@VERSION][=LOCAL_DIR]):
// fetches each module, reads its feature file, and checks them together
// against nav. It returns the modules and nav with their features added.
// A relative LOCAL_DIR is relative to the working directory.
func LoadModules(ctx context.Context, nav *manifest.Manifest, args []string) ([]*thirdparty.Module, *manifest.Manifest, error) {
	if len(args) == 0 {
		return nil, nav, nil
	}
	var mods []*thirdparty.Module
	for _, arg := range args {
		w, err := thirdparty.ParseWith(arg)
		if err != nil {
			return nil, nil, err
		}
		m, err := thirdparty.LoadWith(ctx, w, "go", nil)
		if err != nil {
			return nil, nil, err
		}
		mods = append(mods, m)
	}
	if err := thirdparty.Check(nav, mods); err != nil {
		return nil, nil, err
	}
	merged, err := thirdparty.Merge(nav, mods)
	if err != nil {
		return nil, nil, err
	}
	return mods, merged, nil
}

// ModuleLine describes a module for build output: path, version or
// (devel), the local directory, and its features.
func ModuleLine(m *thirdparty.Module) string {
	s := m.Path + " " + orDevel(m.Version)
	if m.Local {
		s += " => " + m.Dir
	}
	names := make([]string, len(m.Features))
	for i, f := range m.Features {
		names[i] = f.Name
	}
	return s + ": " + strings.Join(names, ", ")
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}

// VerifyModules verifies the features of mods in the build's workspace
// (thirdparty.Verify: navius's harness on what each schema-2 feature
// registers, and each feature's own conformance test), reporting each
// result on w. It fails, in one line naming the failing case, unless every
// feature passed, and, with strict, unless navius's harness verified
// every one (a schema-1 feature is verified only by its module's own
// test). It returns the time the run took.
func VerifyModules(ctx context.Context, w io.Writer, work *Work, mods []*thirdparty.Module, strict bool) (time.Duration, error) {
	start := time.Now()
	v, err := thirdparty.Verify(ctx, thirdparty.VerifyOptions{Work: work.Workspace, Modules: mods})
	if err != nil {
		return 0, err
	}
	for _, r := range v.Features {
		if err := r.Err(); err != nil {
			return 0, err
		}
	}
	for _, r := range v.Features {
		f := r.Feature
		if r.Harness != nil {
			fmt.Fprintf(w, "verify:   %s: navius's harness on what %s registers: %s\n", f.Name, r.Module.Path, suiteLines(r.Harness))
		}
		if r.Own != nil && f.Verified() {
			fmt.Fprintf(w, "verify:   %s: its own test %s passed (reported; navius's harness decides)\n", f.Name, f.ConformanceTest)
		} else if r.Own != nil {
			fmt.Fprintf(w, "verify:   %s: its own test %s passed (%s)\n", f.Name, f.ConformanceTest, suiteLines(r.Own))
		}
		if !f.Verified() {
			why := fmt.Sprintf("its feature file is schema %d; schema 2 gives navius's harness a URL template for each database and cache", f.Schema)
			if f.Schema >= 2 {
				why = "its feature file's \"conformance\" gives navius's harness nothing for its log sink or observer (settings and a read-back function); its own test ran them"
			}
			if strict {
				return 0, fmt.Errorf("verify %s: feature %s is not verified by navius's harness (%s), and --strict asks for that", r.Module.Path, f.Name, why)
			}
			fmt.Fprintf(w, "verify:   %s: NOT verified by navius's harness: %s; --strict refuses it\n", f.Name, why)
		}
	}
	fmt.Fprintf(w, "verify:   %d feature%s in %.1fs\n", len(v.Features), plural(len(v.Features)), v.Elapsed.Seconds())
	return time.Since(start), nil
}

// suiteLines describes the suites a result saw: suite, cases passed, the
// implementation.
func suiteLines(r *thirdparty.Result) string {
	var ran []string
	for _, s := range r.Suites {
		ran = append(ran, fmt.Sprintf("%s %d/%d cases passed against %s", s.Test[strings.LastIndex(s.Test, "/")+1:], s.Passed, s.Cases, s.Impl))
	}
	return strings.Join(ran, "; ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Work is a build's workspace with modules from outside navius
// (thirdparty.Workspace: the tree's go.mod with the modules added, in a
// temporary directory), the generated import file in its overlay, and the
// record of what the modules bring that the import file embeds.
type Work struct {
	*thirdparty.Workspace
	Record buildinfo.WithRecord
}

// PrepareModules makes the workspace that verifies and builds mods into
// the tree at src. Close removes it.
func PrepareModules(ctx context.Context, src string, env []string, mods []*thirdparty.Module) (*Work, error) {
	ws, err := thirdparty.NewWorkspace(ctx, src, env, mods)
	if err != nil {
		return nil, err
	}
	w := &Work{Workspace: ws}
	if w.Record, err = record(ctx, ws, mods); err == nil {
		var file []byte
		if file, err = ImportFile(mods, w.Record); err == nil {
			err = ws.Add(WithFile, file)
		}
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	return w, nil
}

// record finds what each module's features bring: the modules their
// packages need (navius and its core left out: features.json lists
// navius's own features' modules the same way), and the modules whose
// version the workspace raised above the tree's go.mod.
func record(ctx context.Context, ws *thirdparty.Workspace, mods []*thirdparty.Module) (buildinfo.WithRecord, error) {
	var rec buildinfo.WithRecord
	nav, err := manifest.Load(filepath.Join(ws.Src, "features.json"))
	if err != nil {
		return rec, err
	}
	for _, m := range mods {
		for _, f := range m.Features {
			out, err := ws.Output(ctx, "list", "-mod=mod", "-modfile="+ws.ModFile(), "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", f.Package)
			if err != nil {
				return rec, fmt.Errorf("--with %s: %v", m.Path, err)
			}
			brings := []string{m.Path}
			for _, p := range strings.Fields(out) {
				if p != Module && !slices.Contains(nav.Core.Modules, p) && !slices.Contains(brings, p) {
					brings = append(brings, p)
				}
			}
			slices.Sort(brings[1:])
			rec.Features = append(rec.Features, buildinfo.ModuleFeature{Name: f.Name, Description: f.Description, Category: f.Category,
				Provides: f.Provides, Requires: f.Requires, Schemes: f.Schemes, Module: m.Path, Modules: brings})
		}
	}
	before, err := requirements(ctx, ws, filepath.Join(ws.Src, "go.mod"))
	if err != nil {
		return rec, err
	}
	after, err := requirements(ctx, ws, ws.ModFile())
	if err != nil {
		return rec, err
	}
	for _, path := range slices.Sorted(maps.Keys(before)) {
		if to := after[path]; to != "" && to != before[path] {
			rec.Raised = append(rec.Raised, buildinfo.Raise{Path: path, From: before[path], To: to, By: raisedBy(ctx, ws, mods, path, to)})
		}
	}
	return rec, nil
}

// requirements are a go.mod's required versions by module path.
func requirements(ctx context.Context, ws *thirdparty.Workspace, gomod string) (map[string]string, error) {
	out, err := ws.Output(ctx, "mod", "edit", "-json", gomod)
	if err != nil {
		return nil, err
	}
	var mod struct {
		Require []struct{ Path, Version string }
	}
	if err := json.Unmarshal([]byte(out), &mod); err != nil {
		return nil, fmt.Errorf("%s: %v", gomod, err)
	}
	reqs := map[string]string{}
	for _, r := range mod.Require {
		reqs[r.Path] = r.Version
	}
	return reqs, nil
}

// raisedBy names the module whose go.mod requires path at version, or the
// modules whose requirements did.
func raisedBy(ctx context.Context, ws *thirdparty.Workspace, mods []*thirdparty.Module, path, version string) string {
	var all []string
	for _, m := range mods {
		all = append(all, m.Path)
		if reqs, err := requirements(ctx, ws, filepath.Join(m.Dir, "go.mod")); err == nil && reqs[path] == version {
			return m.Path
		}
	}
	return "a requirement of " + strings.Join(all, ", ")
}

// ReportRaises says which versions of navius's own dependencies the
// modules raised (the build uses the raised versions; the SBOM records
// them) and, with strict, refuses them.
func ReportRaises(w io.Writer, work *Work, strict bool) error {
	for _, r := range work.Record.Raised {
		if strict {
			return fmt.Errorf("--with: %s raises %s from %s (navius's requirement) to %s, and --strict refuses a module that changes navius's dependencies: build without --strict, or use a version of the module that needs no newer %s", r.By, r.Path, r.From, r.To, r.Path)
		}
		fmt.Fprintf(w, "module:   %s raises %s %s -> %s (navius requires %s; --strict refuses this)\n", r.By, r.Path, r.From, r.To, r.From)
	}
	return nil
}

// ImportFile is the generated file of package main that imports each
// feature's package (whose init registers its providers) and records the
// features, with the modules they bring, so that the binary lists them
// (navius --features, /info) and navius sbom finds them in its bytes.
// internal/buildinfo is reachable from package main, not from the module.
func ImportFile(mods []*thirdparty.Module, rec buildinfo.WithRecord) ([]byte, error) {
	var b strings.Builder
	b.WriteString("// Code generated by navius build --with; DO NOT EDIT. It exists only in the build's overlay.\n\n")
	b.WriteString("package main\n\nimport (\n\t\"github.com/navius-dev/navius/internal/buildinfo\"\n\n")
	var pkgs []string
	for _, m := range mods {
		for _, f := range m.Features {
			if !slices.Contains(pkgs, f.Package) {
				pkgs = append(pkgs, f.Package)
			}
		}
	}
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	embedded, err := buildinfo.WithRecordString(rec)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, ")\n\n// withRecord is what the --with modules bring (buildinfo.WithRecord).\nconst withRecord = %q\n\nfunc init() { buildinfo.AddWithRecord(withRecord) }\n", embedded)
	return []byte(b.String()), nil
}

func goStrings(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}

// CheckBinary runs a built binary and holds what it reports to the build:
// it starts (CheckRun), reports exactly the selected features, consistent
// with its tags; each feature registered exactly the URL schemes m lists;
// and each module's feature declares exactly the options its feature file
// lists.
func CheckBinary(ctx context.Context, bin string, m *manifest.Manifest, sel manifest.Selection, mods []*thirdparty.Module) error {
	out, err := CheckRun(ctx, bin)
	if err != nil {
		return err
	}
	var rep struct {
		Features []struct {
			Name    string   `json:"name"`
			Schemes []string `json:"schemes"`
		} `json:"features"`
		Consistent bool   `json:"consistent"`
		Problem    string `json:"problem"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("%s --features --json did not print navius's JSON: %v", bin, err)
	}
	var names []string
	for _, f := range rep.Features {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, sel.Features) || !rep.Consistent {
		return fmt.Errorf("the built binary reports features %v, not the selected %v %s", names, sel.Features, rep.Problem)
	}
	for _, f := range rep.Features {
		got := slices.Sorted(slices.Values(f.Schemes))
		if want := slices.Sorted(slices.Values(m.Feature(f.Name).Schemes)); !slices.Equal(got, want) {
			return fmt.Errorf("feature %s registered the URL schemes [%s], but %s lists [%s]: make them agree",
				f.Name, strings.Join(got, " "), declaredBy(f.Name, mods), strings.Join(want, " "))
		}
	}
	if len(mods) == 0 {
		return nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "config", "keys", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s config keys --json: %v %s", bin, err, firstLine(stderr.String(), ""))
	}
	var rows []struct {
		thirdparty.Option
		Feature string `json:"feature"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
		return fmt.Errorf("%s config keys --json did not print navius's JSON: %v", bin, err)
	}
	for _, mod := range mods {
		for _, feat := range mod.Features {
			var declared []thirdparty.Option
			for _, r := range rows {
				if r.Feature == feat.Name {
					declared = append(declared, r.Option)
				}
			}
			if err := OptionsProblem(feat, declared, mod.FeatureFile); err != nil {
				return err
			}
		}
	}
	return nil
}

// OptionsProblem holds the options a feature's package declares (in the
// built binary) to its feature file: each under the feature's own
// section, and, when the file lists options, exactly those. The error
// names the first option that differs.
func OptionsProblem(feat thirdparty.Feature, declared []thirdparty.Option, file string) error {
	for _, o := range declared {
		if !strings.HasPrefix(o.Key, feat.Name+".") {
			return fmt.Errorf("feature %s: its package declares option %s, outside the feature's own section: name it %s.<something>", feat.Name, o.Key, feat.Name)
		}
	}
	if feat.Options == nil {
		return nil // the package's declarations are the one source
	}
	fix := fmt.Sprintf(`make %s's "options" agree with the package, or remove "options" from it (the build takes them from the package)`, file)
	listed := map[string]thirdparty.Option{}
	for _, o := range feat.Options {
		listed[o.Key] = o
	}
	keys := map[string]bool{}
	for _, o := range declared {
		keys[o.Key] = true
		l, ok := listed[o.Key]
		switch {
		case !ok:
			return fmt.Errorf("feature %s: option %s (%s) is declared by the package but not listed in the feature file: %s", feat.Name, o.Key, optionText(o), fix)
		case optionText(l) != optionText(o):
			return fmt.Errorf("feature %s: option %s is %q in the package but %q in the feature file: %s", feat.Name, o.Key, optionText(o), optionText(l), fix)
		}
	}
	for _, o := range feat.Options {
		if !keys[o.Key] {
			return fmt.Errorf("feature %s: option %s is listed in the feature file but the package does not declare it: %s", feat.Name, o.Key, fix)
		}
	}
	return nil
}

// declaredBy names the file that declares a feature.
func declaredBy(name string, mods []*thirdparty.Module) string {
	for _, m := range mods {
		for _, f := range m.Features {
			if f.Name == name {
				return m.FeatureFile
			}
		}
	}
	return "features.json"
}

// optionText is an option's declaration (its key aside) in one
// comparable line.
func optionText(o thirdparty.Option) string {
	s := o.Type
	if o.Default != "" {
		s += " default " + o.Default
	}
	if len(o.Enum) > 0 {
		s += " of " + strings.Join(o.Enum, "|")
	}
	if o.Secret {
		s += " secret"
	}
	return s
}

// CheckRun runs the built binary once (navius --features --json) and
// returns what it printed. A binary that cannot start, e.g. a provider whose
// init panics, fails in one line naming the panic and the init it came from.
func CheckRun(ctx context.Context, bin string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--features", "--json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("the check run of the built binary failed (%s --features --json: %v): %s", bin, err, startFailure(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// startFailure finds the panic in a failed start's output and the init
// function it came from (the first init frame of its trace).
func startFailure(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "panic: ") {
			continue
		}
		msg := strings.TrimSpace(l)
		for _, f := range lines[i+1:] {
			f = strings.TrimSpace(f)
			if name, _, ok := strings.Cut(f, "("); ok && (strings.HasSuffix(name, ".init") || strings.Contains(name, ".init.")) {
				return msg + " (in " + name + ", run at startup)"
			}
		}
		return msg
	}
	return firstLine(out, "no output")
}

func firstLine(s, fallback string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return fallback
}

// FeatureNames are the names of the modules' features.
func FeatureNames(mods []*thirdparty.Module) []string {
	var names []string
	for _, m := range mods {
		for _, f := range m.Features {
			names = append(names, f.Name)
		}
	}
	return names
}
