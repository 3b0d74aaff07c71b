package builder

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/suggest"
	"github.com/navius-dev/navius/providers"
)

// fromConfig chooses exactly the features the config file at path uses,
// and prints why each was chosen:
//
//   - a key under a feature's section (splunk.endpoint, redis.password)
//     needs that feature: a binary without it refuses the key;
//   - database.url and cache.url need the feature that serves their URL
//     scheme (features.json's schemes, a module's feature file's), and
//     database.provider and cache.provider the one that provides the name;
//     unset, their defaults do (cache.url none turns the cache off).
//
// Core keys need nothing. A key or URL no feature (of navius or a --with
// module) answers for fails, naming the key, its line and the fix.
func (t *tree) fromConfig(w io.Writer, path string) (choice, error) {
	entries, err := config.FileEntries(path)
	if err != nil {
		return choice{}, cli.Usagef("--from-config %s: %v", path, oneLine(err))
	}
	fail := func(e config.Entry, format string, args ...any) (choice, error) {
		return choice{}, cli.Usagef("--from-config %s line %d: %s", path, e.Line, fmt.Sprintf(format, args...))
	}
	var order []string
	why := map[string][]string{}
	use := func(feature, reason string) {
		if !slices.Contains(order, feature) {
			order = append(order, feature)
		}
		why[feature] = append(why[feature], reason)
	}
	set := map[string]config.Entry{}
	for _, e := range entries {
		set[e.Key] = e
		if o, ok := providers.LookupOption(e.Key); ok && o.Feature == "core" {
			continue
		}
		section, _, _ := strings.Cut(e.Key, ".")
		if t.manifest.Feature(section) == nil {
			return fail(e, "key %q belongs to no feature of navius or of a --with module%s: fix it, or add the module that declares it with --with",
				e.Key, t.closestKey(e.Key))
		}
		use(section, fmt.Sprintf("%s is set (line %d)", e.Key, e.Line))
	}

	for _, svc := range []string{"database", "cache"} {
		urlKey, provKey := svc+".url", svc+".provider"
		if e, ok := set[provKey]; ok && e.Value != "" {
			f := t.manifest.Provider(svc, e.Value)
			if f == "" {
				return fail(e, "%s: no feature provides %s %q (%s): fix the name, or add the module that provides it with --with",
					provKey, svc, e.Value, t.offered(svc, t.manifest.ProvidersOf(t.manifest.Names(), svc)))
			}
			use(f, fmt.Sprintf("%s is %s (line %d)", provKey, e.Value, e.Line))
			continue
		}
		e, ok := set[urlKey]
		reason := fmt.Sprintf("%s is %%s (line %d)", urlKey, e.Line)
		if !ok {
			// Unset: the default of the build being chosen; a database
			// the features chosen so far do not default is memory's.
			if svc == "database" {
				if e.Value = config.DefaultDatabaseURLWith(t.providerNames(order, svc)); e.Value == "" {
					e.Value = "memory://"
				}
			} else {
				e.Value = config.DefaultCacheURLWith(t.providerNames(order, svc))
			}
			reason = urlKey + " is not set, and defaults to %s"
		}
		if svc == "cache" && (e.Value == "" || e.Value == "none") {
			continue // no cache
		}
		scheme, err := providers.Scheme(e.Value)
		if err != nil {
			return fail(e, "%s: %v", urlKey, err)
		}
		f := t.manifest.SchemeFeature(svc, scheme)
		if f == "" {
			return fail(e, "%s: no feature serves %s URL scheme %q (%s): fix the URL, or add the module that serves it with --with",
				urlKey, svc, scheme, t.offered(svc, t.manifest.Schemes(t.manifest.Names(), svc)))
		}
		use(f, fmt.Sprintf(reason, scheme+"://"))
	}

	slices.Sort(order)
	sel, err := t.manifest.Resolve("none," + strings.Join(order, ","))
	if err != nil {
		return choice{}, cli.Usagef("--from-config %s: %v", path, err)
	}
	fmt.Fprintf(w, "config:   %s uses:\n", path)
	for _, f := range order {
		fmt.Fprintf(w, "          %s: %s\n", f, strings.Join(why[f], "; "))
	}
	return choice{sel: sel, how: "the config " + path, spec: "none," + strings.Join(order, ",")}, nil
}

// providerNames are the names of the providers of service that features
// bring.
func (t *tree) providerNames(features []string, service string) []string {
	var names []string
	for _, n := range features {
		for _, p := range t.manifest.Feature(n).Provides {
			if name, ok := strings.CutPrefix(p, service+":"); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// offered says what the features offer for a service, for messages.
func (t *tree) offered(service string, what []string) string {
	if len(what) == 0 {
		return "no feature offers a " + service
	}
	return "the features offer " + strings.Join(what, ", ")
}

// closestKey suggests a core key, or a key under a feature's section, for
// a key no feature answers for.
func (t *tree) closestKey(key string) string {
	section, rest, _ := strings.Cut(key, ".")
	if s := suggest.Closest(section, t.manifest.Names()); s != "" && rest != "" {
		return fmt.Sprintf(" (did you mean %q?)", s+"."+rest)
	}
	var core []string
	for _, o := range providers.Options() {
		if o.Feature == "core" {
			core = append(core, o.Key)
		}
	}
	if s := suggest.Closest(key, core); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
