package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/manifest"
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
	for _, name := range compiled {
		cf := CompiledFeature{Name: name, Provides: []string{}, Modules: []Module{}}
		if f := m.Feature(name); f != nil {
			cf.Provides = f.Provides
			cf.Modules = modulesOf(f.Modules, info.Modules)
		}
		r.Features = append(r.Features, cf)
	}
	if want := m.FeaturesFromTags(info.Tags); !slices.Equal(want, compiled) {
		r.Consistent = false
		r.Problem = fmt.Sprintf("the features compiled in (%s) disagree with the build tags %q, which select (%s)",
			strings.Join(compiled, ", "), strings.Join(info.Tags, ","), strings.Join(want, ", "))
	}
	return r
}

func printFeatures(env *Env, asJSON bool) error {
	r := Features(env.Manifest)
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // output for people and programs, not HTML
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else if len(r.Features) == 0 {
		fmt.Fprintln(env.Stdout, "core only: no optional feature is compiled into this binary")
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		for _, f := range r.Features {
			mods := make([]string, len(f.Modules))
			for i, m := range f.Modules {
				mods[i] = m.Path + " " + m.Version
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, strings.Join(f.Provides, ", "), strings.Join(mods, ", "))
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
