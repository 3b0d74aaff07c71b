package manifest

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/navius-dev/navius/internal/suggest"
)

// Selection is a resolved, complete feature set.
type Selection struct {
	// Features are the selected feature names, requirements included, sorted.
	Features []string
	// Added are the requirements that were added because a named feature
	// needs them, sorted.
	Added []string
	// External are the selected features from other modules (navius build
	// --with), sorted: they are imported by the build, not tags.
	External []string
}

// Tags returns the go build tags for the selection: "custom" followed by the
// names of navius's own selected features. A feature from another module is
// no tag: its name could be one Go gives meaning to (linux, race).
func (s Selection) Tags() []string {
	tags := []string{CustomTag}
	for _, f := range s.Features {
		if !slices.Contains(s.External, f) {
			tags = append(tags, f)
		}
	}
	return tags
}

// TagString is Tags joined with commas, as `go build -tags` takes them.
func (s Selection) TagString() string { return strings.Join(s.Tags(), ",") }

// Resolve turns a FEATURES string into a complete selection.
//
// The string is a list of items separated by commas or spaces:
//
//	name     add a feature (and, automatically, what it requires)
//	-name    remove a feature that "default" or "all" added
//	default  add the default features
//	all      add every feature
//	none     start from nothing (only the core); first or alone
//
// An empty string means "default", and so does a list of removals alone.
// Items apply left to right. "none" anywhere but first would silently
// discard what comes before it (default,none is the core alone), so it is
// refused there.
func (m *Manifest) Resolve(spec string) (Selection, error) {
	items := splitSpec(spec)
	if i := slices.Index(items, "none"); i > 0 {
		return Selection{}, fmt.Errorf("none starts from nothing and would drop %s before it: put none first (none,builder) or leave it out",
			strings.Join(items[:i], ","))
	}
	// Nothing but removals ("-bolt") means: the defaults without those.
	if !slices.ContainsFunc(items, func(it string) bool { return !strings.HasPrefix(it, "-") }) {
		items = append([]string{"default"}, items...)
	}
	chosen := map[string]bool{}
	removed := map[string]bool{}
	for _, item := range items {
		switch item {
		case "default":
			for _, n := range m.Defaults() {
				chosen[n] = true
			}
			continue
		case "all":
			for _, n := range m.Names() {
				chosen[n] = true
			}
			continue
		case "none":
			clear(chosen)
			clear(removed)
			continue
		}
		name, remove := strings.CutPrefix(item, "-")
		if m.byName[name] == nil {
			return Selection{}, m.unknown(name)
		}
		if remove {
			delete(chosen, name)
			removed[name] = true
		} else {
			chosen[name] = true
			delete(removed, name)
		}
	}

	named := make([]string, 0, len(chosen))
	for n := range chosen {
		named = append(named, n)
	}
	final := m.Closure(named)
	for _, r := range sortedKeys(removed) {
		if slices.Contains(final, r) {
			by := m.RequiredBy(r, final)
			return Selection{}, fmt.Errorf("cannot remove feature %q: required by %s; remove %s too",
				r, strings.Join(quoteAll(by), ", "), strings.Join(by, ", "))
		}
	}
	var added, external []string
	for _, n := range final {
		if !chosen[n] {
			added = append(added, n)
		}
		if m.byName[n].Module != "" {
			external = append(external, n)
		}
	}
	return Selection{Features: final, Added: added, External: external}, nil
}

// SpecWith is spec with names added: the features spec selects plus those
// (navius build --with adds its modules' features this way). A spec that
// selects the defaults implicitly (empty, or only removals) keeps them.
func SpecWith(spec string, names ...string) string {
	if len(names) == 0 {
		return spec
	}
	items := splitSpec(spec)
	if !slices.ContainsFunc(items, func(it string) bool { return !strings.HasPrefix(it, "-") }) {
		items = append([]string{"default"}, items...)
	}
	return strings.Join(append(items, names...), ",")
}

func (m *Manifest) unknown(name string) error {
	msg := fmt.Sprintf("unknown feature %q", name)
	if name == "" {
		msg = `empty feature name after "-"`
	} else if s := suggest.Closest(name, m.Names()); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s; valid features: %s (or the words default, all, none)", msg, strings.Join(m.Names(), ", "))
}

func splitSpec(spec string) []string {
	return strings.FieldsFunc(strings.ToLower(spec), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n'
	})
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return q
}

// FeaturesFromTags returns the features a build with these tags compiles in:
// with the custom tag, exactly the feature names among the tags; without it,
// the defaults plus any feature named as a tag.
func (m *Manifest) FeaturesFromTags(tags []string) []string {
	set := map[string]bool{}
	if !slices.Contains(tags, CustomTag) {
		for _, n := range m.Defaults() {
			set[n] = true
		}
	}
	for _, t := range tags {
		if m.byName[t] != nil {
			set[t] = true
		}
	}
	return sortedKeys(set)
}

// ProvidersOf returns the features of features that provide service (e.g.
// "database"), sorted.
func (m *Manifest) ProvidersOf(features []string, service string) []string {
	var out []string
	for _, n := range features {
		if f := m.byName[n]; f != nil && slices.ContainsFunc(f.Provides, func(p string) bool { return strings.HasPrefix(p, service+":") }) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// CheckServes tells whether a server built from sel can start: a selected
// feature must provide a database, or serve fails at once. A spec that
// names "none" asks for a tool-only build on purpose (e.g.
// none,builder,prometheus), so the problem is then only a warning.
func (m *Manifest) CheckServes(spec string, sel Selection) (warning string, err error) {
	if len(m.ProvidersOf(sel.Features, "database")) > 0 {
		return "", nil
	}
	would := strings.Join(m.ProvidersOf(m.Names(), "database"), ", ")
	if slices.Contains(splitSpec(spec), "none") {
		return fmt.Sprintf("no selected feature provides a database (%s would): this is a tool-only build, whose serve fails at start", would), nil
	}
	fix := "add one (e.g. memory), or write none for a deliberately tool-only build of the core alone"
	if names := strings.Join(sel.Features, ","); names != "" {
		fix = fmt.Sprintf("add one (e.g. %s,memory), or put none first for a deliberately tool-only build (none,%s)", names, names)
	}
	return "", fmt.Errorf("no selected feature provides a database (%s would), so the server could not start: %s", would, fix)
}

// CheckModules tells whether the modules linked into a binary agree with
// the features it is said to carry: each module of a carried feature is
// linked, and no module that only features it lacks bring. A binary built
// from another version of features.json (or by hand) may disagree.
func (m *Manifest) CheckModules(features []string, linked map[string]string) error {
	wanted := map[string]bool{}
	for _, n := range features {
		f := m.byName[n]
		if f == nil {
			return fmt.Errorf("feature %q is not in features.json", n)
		}
		for _, mod := range f.Modules {
			if _, ok := linked[mod]; !ok {
				return fmt.Errorf("feature %s brings module %s, which the binary does not link", n, mod)
			}
			wanted[mod] = true
		}
	}
	for _, f := range m.Features {
		for _, mod := range f.Modules {
			if _, ok := linked[mod]; ok && !wanted[mod] && !slices.Contains(m.Core.Modules, mod) {
				return fmt.Errorf("the binary links module %s, which only feature %s brings", mod, f.Name)
			}
		}
	}
	return nil
}
