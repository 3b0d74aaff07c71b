package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/providers"
)

// Module is a Go module and the version linked into this binary.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

// CompiledFeature is one compiled-in feature as --features reports it.
type CompiledFeature struct {
	Name     string   `json:"name"`
	Provides []string `json:"provides"`
	Modules  []Module `json:"modules"`
	// Schemes are the URL schemes its providers registered, as
	// service:scheme (the builder checks them against the feature's
	// declaration).
	Schemes []string `json:"schemes,omitempty"`
	// Capabilities are the optional capabilities of each database
	// provider ("database:bolt": conditional, expiry, batch), for those
	// whose registration tells them (providers.DatabaseType).
	Capabilities map[string][]string `json:"capabilities,omitempty"`
	// Bounds are the defaults of the feature's options that cap what it
	// holds or uses (providers.Option.Bound): "memory.capacity": "1GiB".
	Bounds map[string]string `json:"bounds,omitempty"`
	// Standard is false for a feature from another module (navius build
	// --with), as caddy list-modules marks non-standard modules; Source
	// then says which module, and Description what its feature file says.
	Standard    bool          `json:"standard"`
	Source      *ModuleSource `json:"source,omitempty"`
	Description string        `json:"description,omitempty"`
}

// ModuleSource is where a non-standard feature comes from.
type ModuleSource struct {
	Module  string `json:"module"`
	Version string `json:"version"` // "(devel)" for a local directory
	// Replace is the directory (or module@version) the module was
	// replaced with, as navius build --with MODULE=DIR does.
	Replace string `json:"replace,omitempty"`
}

// String renders the source as go version -m does: module version [=> replacement].
func (s ModuleSource) String() string {
	out := s.Module + " " + s.Version
	if s.Replace != "" {
		out += " => " + s.Replace
	}
	return out
}

// WithModuleFeatures returns m with the features from other modules that
// this binary carries (navius build --with) added, so that every command
// knows them as it knows navius's own.
func WithModuleFeatures(m *manifest.Manifest) (*manifest.Manifest, error) {
	mods := buildinfo.ModuleFeatures()
	if len(mods) == 0 {
		return m, nil
	}
	feats := make([]manifest.Feature, len(mods))
	for i, f := range mods {
		modules := f.Modules // its module and those it brings (navius build --with records them)
		if len(modules) == 0 {
			modules = []string{f.Module}
		}
		feats[i] = manifest.Feature{Name: f.Name, Description: f.Description, Category: f.Category,
			Requires: f.Requires, Modules: modules, Provides: f.Provides, Schemes: f.Schemes, Module: f.Module}
	}
	return m.Add(feats...)
}

// FeatureReport is the JSON of navius --features --json; navius build --like
// reads it back to rebuild a binary with the same features.
type FeatureReport struct {
	Version     string            `json:"version"`
	GoVersion   string            `json:"go_version"`
	VCSRevision string            `json:"vcs_revision,omitempty"`
	BuildTags   []string          `json:"build_tags"`
	Platform    string            `json:"platform"`
	Features    []CompiledFeature `json:"features"`
	CoreModules []Module          `json:"core_modules"`
	// Consistent is false when the features whose init ran differ from
	// those the build tags select; Problem says how.
	Consistent bool   `json:"consistent"`
	Problem    string `json:"problem,omitempty"`
}

// Names returns the feature names of the report.
func (r FeatureReport) Names() []string {
	names := make([]string, len(r.Features))
	for i, f := range r.Features {
		names[i] = f.Name
	}
	return names
}

func modulesOf(paths []string, linked map[string]string) []Module {
	mods := []Module{}
	for _, p := range paths {
		if v, ok := linked[p]; ok {
			mods = append(mods, Module{Path: p, Version: v})
		}
	}
	return mods
}

// Features reports what this binary carries.
func Features(m *manifest.Manifest) FeatureReport {
	info := buildinfo.Read()
	compiled := buildinfo.Compiled()
	r := FeatureReport{
		Version: info.Version, GoVersion: info.GoVersion, VCSRevision: info.Revision,
		BuildTags: info.Tags, Platform: info.Platform, Features: []CompiledFeature{},
		CoreModules: modulesOf(m.Core.Modules, info.Modules), Consistent: true,
	}
	bounds := boundsByFeature()
	for _, name := range compiled {
		cf := CompiledFeature{Name: name, Provides: []string{}, Modules: []Module{}, Standard: true}
		if f := m.Feature(name); f != nil {
			cf.Provides = f.Provides
			cf.Schemes = registeredSchemes(f.Provides)
			cf.Capabilities = capabilities(f.Provides)
			cf.Bounds = bounds[name]
			cf.Modules = modulesOf(f.Modules, info.Modules)
			if f.Module != "" {
				cf.Standard = false
				cf.Description = f.Description
				cf.Source = &ModuleSource{Module: f.Module, Version: info.Modules[f.Module], Replace: info.Replaced[f.Module]}
			}
		}
		r.Features = append(r.Features, cf)
	}
	// The build tags select navius's features; features from other modules
	// come from the import file the build generated.
	want := m.FeaturesFromTags(info.Tags)
	for _, f := range buildinfo.ModuleFeatures() {
		want = append(want, f.Name)
	}
	slices.Sort(want)
	if !slices.Equal(want, compiled) {
		r.Consistent = false
		r.Problem = fmt.Sprintf("the features compiled in (%s) disagree with the build tags %q, which select (%s)",
			strings.Join(compiled, ", "), strings.Join(info.Tags, ","), strings.Join(want, ", "))
	}
	return r
}

// registeredSchemes are the URL schemes the database and cache registries
// hold for the providers in provides.
func registeredSchemes(provides []string) []string {
	var out []string
	for _, p := range provides {
		svc, name, _ := strings.Cut(p, ":")
		var schemes []string
		switch svc {
		case "database":
			schemes = providers.Databases.Schemes(name)
		case "cache":
			schemes = providers.Caches.Schemes(name)
		}
		for _, s := range schemes {
			out = append(out, svc+":"+s)
		}
	}
	return out
}

// capabilities are the optional capabilities of the database providers in
// provides whose open function returns a concrete type.
func capabilities(provides []string) map[string][]string {
	var out map[string][]string
	for _, p := range provides {
		svc, name, _ := strings.Cut(p, ":")
		if svc != "database" {
			continue
		}
		if _, caps, known := providers.DatabaseType(name); known {
			if out == nil {
				out = map[string][]string{}
			}
			out[p] = append([]string{}, caps.Names()...)
		}
	}
	return out
}

// boundsByFeature are the defaults of each feature's options that cap a
// resource (providers.Option.Bound), by feature.
func boundsByFeature() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, o := range providers.Options() {
		if o.Bound {
			if out[o.Feature] == nil {
				out[o.Feature] = map[string]string{}
			}
			out[o.Feature][o.Key] = o.DefaultValue()
		}
	}
	return out
}

// providesText lists a feature's providers with their capabilities, then
// its bounds: "database:memory (conditional, expiry, batch), cache:memory;
// memory.capacity 1GiB by default".
func providesText(f CompiledFeature) string {
	out := make([]string, len(f.Provides))
	for i, p := range f.Provides {
		out[i] = p
		if caps, ok := f.Capabilities[p]; ok {
			if len(caps) == 0 {
				caps = []string{"no optional capabilities"}
			}
			out[i] += " (" + strings.Join(caps, ", ") + ")"
		}
	}
	text := strings.Join(out, ", ")
	if len(f.Bounds) > 0 {
		var bounds []string
		for k, v := range f.Bounds {
			bounds = append(bounds, k+" "+v)
		}
		slices.Sort(bounds)
		text += "; " + strings.Join(bounds, ", ") + " by default"
	}
	return text
}

// modulesText lists a feature's modules with their versions; a feature
// from another module names that module first with its source ("=> DIR"
// for the local form), then the modules it brings, as navius's own
// features list theirs.
func modulesText(f CompiledFeature) string {
	var out []string
	if f.Source != nil {
		out = append(out, f.Source.String())
	}
	for _, m := range f.Modules {
		if f.Source == nil || m.Path != f.Source.Module {
			out = append(out, m.Path+" "+m.Version)
		}
	}
	return strings.Join(out, ", ")
}

func printFeatures(env *Env, asJSON bool) error {
	r := Features(env.Manifest)
	if asJSON {
		if err := PrintJSON(env.Stdout, r); err != nil {
			return err
		}
	} else if len(r.Features) == 0 {
		fmt.Fprintln(env.Stdout, "core only: no optional feature is compiled into this binary")
	} else {
		// Standard features first, then those from other modules with
		// their source, counted as caddy list-modules does.
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		nonStandard := 0
		for _, f := range r.Features {
			if !f.Standard {
				nonStandard++
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, providesText(f), modulesText(f))
		}
		if nonStandard > 0 {
			fmt.Fprintf(tw, "\n  Non-standard features (from other modules, built in with navius build --with): %d\n", nonStandard)
			for _, f := range r.Features {
				if !f.Standard {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, providesText(f), modulesText(f))
				}
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !r.Consistent {
		fmt.Fprintln(env.Stderr, "warning:", r.Problem)
	}
	return nil
}
