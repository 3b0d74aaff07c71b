package builder

import (
	"errors"
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
// with the NAVIUS_* variables of environ over it as serve reads them
// (defaults < file < environment), and prints why each was chosen:
//
//   - a key under a feature's section (splunk.endpoint, redis.password),
//     or a non-empty variable of one (NAVIUS_SPLUNK_TOKEN), needs that
//     feature: a binary without it refuses the key (and ignores the
//     variable, which is not what its setter meant);
//   - but a section that only turns its feature off ("<feature>.enabled"
//     false) leaves it out: a binary without the feature takes that key;
//   - database.url and cache.url need the feature that serves their URL
//     scheme (features.json's schemes, a module's feature file's), and
//     database.provider and cache.provider the one that provides the name;
//     unset, their defaults do (cache.url none turns the cache off).
//
// Core keys need nothing. Each key or URL no feature (of navius or a
// --with module) answers for is a problem, naming the key, its line (or
// variable) and the fix; all of them fail the choice together, one line
// each. A variable that names no option is ignored, as serve ignores it.
func (t *tree) fromConfig(w io.Writer, path string, environ []string) (choice, error) {
	var problems []string
	problem := func(e config.Entry, format string, args ...any) {
		at := fmt.Sprintf(" line %d", e.Line)
		if e.Env != "" {
			at = ", environment " + e.Env
		}
		problems = append(problems, fmt.Sprintf("--from-config %s%s: %s", path, at, fmt.Sprintf(format, args...)))
	}
	entries, err := config.FileEntries(path)
	for _, err := range configErrors(err) {
		problems = append(problems, fmt.Sprintf("--from-config %s: %v", path, oneLine(err)))
	}
	var ignored []string
	for _, e := range config.EnvEntries(environ) {
		if e.Key == "" {
			e.Key = t.envKey(e.Env)
		}
		switch {
		case e.Key == "" || !isCore(e.Key) && t.manifest.Feature(sectionOf(e.Key)) == nil:
			ignored = append(ignored, e.Env)
		case e.Value != "" || isCore(e.Key):
			// An empty variable of a feature (NAVIUS_PPROF_LISTEN=) asks
			// for nothing: serve without the feature only warns about it.
			entries = append(entries, e)
		}
	}

	var order []string
	why := map[string][]string{}
	use := func(feature, reason string) {
		if !slices.Contains(order, feature) {
			order = append(order, feature)
		}
		why[feature] = append(why[feature], reason)
	}
	// set holds the value serve uses for each key: the environment's
	// over the file's.
	set := map[string]config.Entry{}
	var sections []string
	bySection := map[string][]config.Entry{}
	for _, e := range entries {
		set[e.Key] = e
		if isCore(e.Key) {
			continue
		}
		section := sectionOf(e.Key)
		if t.manifest.Feature(section) == nil {
			problem(e, "key %q belongs to no feature of navius or of a --with module%s: fix it, or add the module that declares it with --with",
				e.Key, t.closestKey(e.Key))
			continue
		}
		if bySection[section] == nil {
			sections = append(sections, section)
		}
		bySection[section] = append(bySection[section], e)
	}
	off := map[string][]string{}
	for _, section := range sections {
		es := bySection[section]
		if !slices.ContainsFunc(es, func(e config.Entry) bool { return !turnsOff(section, e) }) {
			for _, e := range es {
				off[section] = append(off[section], fmt.Sprintf("%s is false (%s)", e.Key, where(e)))
			}
			continue
		}
		for _, e := range es {
			use(section, fmt.Sprintf("%s is set (%s)", e.Key, where(e)))
		}
	}

	for _, svc := range []string{"database", "cache"} {
		urlKey, provKey := svc+".url", svc+".provider"
		if e, ok := set[provKey]; ok && e.Value != "" {
			f := t.manifest.Provider(svc, e.Value)
			if f == "" {
				problem(e, "%s: no feature provides %s %q (%s): fix the name, or add the module that provides it with --with",
					provKey, svc, e.Value, t.offered(svc, t.manifest.ProvidersOf(t.manifest.Names(), svc)))
				continue
			}
			use(f, fmt.Sprintf("%s is %s (%s)", provKey, e.Value, where(e)))
			continue
		}
		e, ok := set[urlKey]
		reason := fmt.Sprintf("%s is %%s (%s)", urlKey, where(e))
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
			problem(e, "%s: %v", urlKey, err)
			continue
		}
		f := t.manifest.SchemeFeature(svc, scheme)
		if f == "" {
			problem(e, "%s: no feature serves %s URL scheme %q (%s): fix the URL, or add the module that serves it with --with",
				urlKey, svc, scheme, t.offered(svc, t.manifest.Schemes(t.manifest.Names(), svc)))
			continue
		}
		use(f, fmt.Sprintf(reason, scheme+"://"))
	}
	if len(problems) > 0 {
		return choice{}, cli.Usagef("%s", strings.Join(problems, "\n"))
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
	for _, f := range sections {
		if off[f] != nil && !slices.Contains(sel.Features, f) {
			fmt.Fprintf(w, "          %s: left out, %s\n", f, strings.Join(off[f], "; "))
		}
	}
	if len(ignored) > 0 {
		fmt.Fprintf(w, "          ignored: %s (no option of navius or of a --with module; serve ignores them too)\n", strings.Join(ignored, ", "))
	}
	how := "the config " + path
	for _, f := range order {
		if slices.ContainsFunc(why[f], func(r string) bool { return strings.Contains(r, "(from NAVIUS_") }) {
			how += " and the environment"
			break
		}
	}
	return choice{sel: sel, how: how, spec: "none," + strings.Join(order, ",")}, nil
}

// configErrors are the problems in a config.FileEntries error, one each.
func configErrors(err error) []error {
	var all config.Errors
	if errors.As(err, &all) {
		return all
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// isCore reports whether key is an option every build carries.
func isCore(key string) bool {
	o, ok := providers.LookupOption(key)
	return ok && o.Feature == "core"
}

func sectionOf(key string) string {
	section, _, _ := strings.Cut(key, ".")
	return section
}

// where says where an entry comes from, for reasons.
func where(e config.Entry) string {
	if e.Env != "" {
		return "from " + e.Env
	}
	return fmt.Sprintf("line %d", e.Line)
}

// turnsOff reports whether e is "<section>.enabled" set to false: a
// section that holds nothing else leaves its feature out, and a binary
// without the feature takes the key (config turnsOffAbsent). A feature
// that declares the key as other than a bool is not turned off by it.
func turnsOff(section string, e config.Entry) bool {
	if e.Key != section+".enabled" {
		return false
	}
	if o, ok := providers.LookupOption(e.Key); ok && o.Type != providers.Bool {
		return false
	}
	on, err := providers.ParseBool(e.Value)
	return err == nil && !on
}

// envKey is the key of a NAVIUS_* variable that names no option this
// binary declares, under the feature (of navius or a --with module) whose
// section it names: NAVIUS_SPLUNK_TOKEN is splunk.token. The longest
// feature name wins, as names may hold "_". "" when none fits.
func (t *tree) envKey(name string) string {
	best := ""
	for _, f := range t.manifest.Names() {
		if strings.HasPrefix(name, "NAVIUS_"+strings.ToUpper(f)+"_") && len(f) > len(best) {
			best = f
		}
	}
	if best == "" {
		return ""
	}
	return best + "." + strings.ToLower(strings.TrimPrefix(name, "NAVIUS_"+strings.ToUpper(best)+"_"))
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
