// Package manifest reads features.json, the single source of truth for which
// features exist, what each brings in and what it requires, and resolves a
// feature selection (the FEATURES string) into Go build tags.
//
// The Makefile (through scripts/build), the builder CLI and the running binary
// all use this one resolver, so they cannot disagree about a selection.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// CustomTag is the build tag that switches off the default feature set: with
// it, only the features named as tags are compiled in.
const CustomTag = "custom"

// Manifest is the parsed features.json.
type Manifest struct {
	Schema   int       `json:"schema"`
	Core     Core      `json:"core"`
	Features []Feature `json:"features"`

	byName map[string]*Feature
}

// Core describes what every build carries.
type Core struct {
	Description string   `json:"description"`
	Modules     []string `json:"modules"`
	// Endpoints are the HTTP endpoints every build serves.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// SizeImpact is the stripped size in bytes of a build with no feature at
	// all; nil until measured.
	SizeImpact *int64 `json:"size_impact"`
}

// Feature is one selectable feature. Its Name is also its build tag.
type Feature struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Category    string   `json:"category"`
	Default     bool     `json:"default"`
	Requires    []string `json:"requires"`
	// Modules are the third-party Go modules that only this feature brings in.
	Modules []string `json:"modules"`
	// Provides lists "service:provider" pairs, e.g. "database:memory".
	Provides []string `json:"provides"`
	// Schemes lists the URL schemes the feature's providers serve, as
	// "service:scheme" pairs (e.g. "database:rediss"), so that a config's
	// URLs tell which features it needs (navius build --from-config).
	Schemes []string `json:"schemes,omitempty"`
	// Endpoints are the HTTP endpoints the feature adds.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Commands are the navius commands the feature adds, so that a binary
	// without it can say which feature brings a command it lacks.
	Commands []string `json:"commands,omitempty"`
	// SizeImpact is the measured growth in bytes of a stripped build when this
	// feature is added to its requirements; nil until measured.
	SizeImpact *int64 `json:"size_impact"`
	// Module is the Go module of a feature from outside navius (navius
	// build --with), "" for navius's own. Such a feature is no build tag:
	// a generated import brings it in. Set by Add, never read from JSON.
	Module string `json:"-"`
}

// Endpoint is an HTTP endpoint, for the generated API reference.
type Endpoint struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// Listener is "api" (the default) or "admin" (a separate listener).
	Listener string `json:"listener,omitempty"`
	// Scope is the bearer-token scope it needs when authentication is on;
	// empty when it is always open.
	Scope       string `json:"scope,omitempty"`
	Description string `json:"description"`
	// PathOption names the option that moves the endpoint (Path is then
	// its default), so that a server describes it where it serves it.
	PathOption string `json:"path_option,omitempty"`
}

var (
	nameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`) // RFC 3986, lower case as navius compares them
)

// reserved words of the FEATURES syntax can't be feature names.
var reserved = map[string]bool{"default": true, "all": true, "none": true, CustomTag: true}

// Load reads and validates a features.json file.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features manifest: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse decodes and validates a manifest: unknown fields, duplicate or
// malformed names, unknown requirements and requirement cycles are errors.
func Parse(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("features manifest: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("features manifest: trailing data after the top-level object")
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("features manifest: %w", err)
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Schema != 1 {
		return fmt.Errorf("schema %d is not supported (want 1)", m.Schema)
	}
	m.byName = make(map[string]*Feature, len(m.Features))
	schemes := map[string]string{} // service:scheme -> feature
	for i := range m.Features {
		f := &m.Features[i]
		switch {
		case !nameRE.MatchString(f.Name):
			return fmt.Errorf("feature %q: a name must match %s (it is also a build tag)", f.Name, nameRE)
		case reserved[f.Name]:
			return fmt.Errorf("feature %q: the name is reserved", f.Name)
		case m.byName[f.Name] != nil:
			return fmt.Errorf("feature %q is declared twice", f.Name)
		case f.Category == "":
			return fmt.Errorf("feature %q has no category", f.Name)
		case f.Description == "":
			return fmt.Errorf("feature %q has no description", f.Name)
		}
		for _, p := range f.Provides {
			if svc, prov, ok := strings.Cut(p, ":"); !ok || svc == "" || prov == "" {
				return fmt.Errorf("feature %q: provides entry %q is not of the form service:provider", f.Name, p)
			}
		}
		for _, s := range f.Schemes {
			svc, scheme, ok := strings.Cut(s, ":")
			switch {
			case !ok || !schemeRE.MatchString(scheme):
				return fmt.Errorf("feature %q: schemes entry %q is not of the form service:scheme (e.g. \"database:%s\")", f.Name, s, f.Name)
			case !slices.ContainsFunc(f.Provides, func(p string) bool { return strings.HasPrefix(p, svc+":") }):
				return fmt.Errorf("feature %q: schemes entry %q names service %s, which the feature does not provide", f.Name, s, svc)
			}
			if by, dup := schemes[s]; dup {
				return fmt.Errorf("feature %q: %s scheme %q is served by feature %q already", f.Name, svc, scheme, by)
			}
			schemes[s] = f.Name
		}
		m.byName[f.Name] = f
	}
	for _, f := range m.Features {
		for _, r := range f.Requires {
			if m.byName[r] == nil {
				return fmt.Errorf("feature %q requires unknown feature %q", f.Name, r)
			}
		}
	}
	return m.checkCycles()
}

// checkCycles walks the requirement graph depth first and names the first
// cycle it finds, e.g. "a -> b -> a".
func (m *Manifest) checkCycles() error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case visiting:
			i := slices.Index(path, name)
			return fmt.Errorf("requirement cycle: %s", strings.Join(append(slices.Clone(path[i:]), name), " -> "))
		case done:
			return nil
		}
		state[name] = visiting
		path = append(path, name)
		for _, r := range m.byName[name].Requires {
			if err := visit(r); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}
	for _, f := range m.Features {
		if err := visit(f.Name); err != nil {
			return err
		}
	}
	return nil
}

// Feature returns the named feature, or nil.
func (m *Manifest) Feature(name string) *Feature { return m.byName[name] }

// Names returns every feature name, sorted.
func (m *Manifest) Names() []string {
	names := make([]string, 0, len(m.Features))
	for _, f := range m.Features {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

// Defaults returns the names of the default features, sorted.
func (m *Manifest) Defaults() []string {
	var names []string
	for _, f := range m.Features {
		if f.Default {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	return names
}

// Categories returns the categories in first-appearance order.
func (m *Manifest) Categories() []string {
	var cats []string
	for _, f := range m.Features {
		if !slices.Contains(cats, f.Category) {
			cats = append(cats, f.Category)
		}
	}
	return cats
}

// Provider returns the feature that provides service:provider (e.g.
// "database", "redis"), or "" when no feature does.
func (m *Manifest) Provider(service, provider string) string {
	want := service + ":" + provider
	for _, f := range m.Features {
		if slices.Contains(f.Provides, want) {
			return f.Name
		}
	}
	return ""
}

// SchemeFeature returns the feature that serves URL scheme for service
// (e.g. "cache", "rediss"), or "" when no feature does.
func (m *Manifest) SchemeFeature(service, scheme string) string {
	want := service + ":" + strings.ToLower(scheme)
	for _, f := range m.Features {
		if slices.Contains(f.Schemes, want) {
			return f.Name
		}
	}
	return ""
}

// Schemes returns the URL schemes features serve for service, sorted.
func (m *Manifest) Schemes(features []string, service string) []string {
	var out []string
	for _, n := range features {
		if f := m.byName[n]; f != nil {
			for _, s := range f.Schemes {
				if scheme, ok := strings.CutPrefix(s, service+":"); ok {
					out = append(out, scheme)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// Add returns a copy of m with features from other modules added (each
// with its Module set), checked as features.json is: no name twice, no
// scheme twice, requirements known, no cycle.
func (m *Manifest) Add(features ...Feature) (*Manifest, error) {
	out := &Manifest{Schema: m.Schema, Core: m.Core, Features: slices.Clone(m.Features)}
	for _, f := range features {
		if f.Module == "" {
			return nil, fmt.Errorf("feature %q: a feature added to navius's names its module", f.Name)
		}
		out.Features = append(out.Features, f)
	}
	if err := out.validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// CommandFeature returns the feature that adds the navius command name, or
// "" when no feature does.
func (m *Manifest) CommandFeature(name string) string {
	for _, f := range m.Features {
		if slices.Contains(f.Commands, name) {
			return f.Name
		}
	}
	return ""
}

// RebuildSpec is the FEATURES value of a binary that carries compiled plus
// add: what this binary has, then what it lacks, never a feature twice. A
// hint built from it never drops a feature the user already has.
func RebuildSpec(compiled []string, add ...string) string {
	spec := slices.Clone(compiled)
	for _, a := range add {
		if !slices.Contains(spec, a) {
			spec = append(spec, a)
		}
	}
	if len(spec) == 0 {
		return "none"
	}
	return strings.Join(spec, ",")
}

// RequiredBy returns the features of set that need name, directly or
// through other features, sorted: those that stop it from being removed.
func (m *Manifest) RequiredBy(name string, set []string) []string {
	var by []string
	for _, s := range set {
		if s != name && slices.Contains(m.Closure([]string{s}), name) {
			by = append(by, s)
		}
	}
	sort.Strings(by)
	return by
}

// Closure returns names plus everything they require, transitively, sorted.
func (m *Manifest) Closure(names []string) []string {
	seen := map[string]bool{}
	var add func(string)
	add = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		if f := m.byName[n]; f != nil {
			for _, r := range f.Requires {
				add(r)
			}
		}
	}
	for _, n := range names {
		add(n)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
