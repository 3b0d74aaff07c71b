// Package harness is the conformance harness navius's builder runs against
// a provider module before building it in (navius build --with, for a
// feature file of schema 2). The builder writes one test file into this
// package, in its overlay only: it imports the feature's package (whose
// init registers the provider, as in the navius binary) and calls
// RunDatabase or RunCache for each database and cache the feature declares.
// `go test -json` of this package, with the build's own go.mod, is the
// verification; the module's own tests take no part in its verdict.
//
// The harness opens the provider that the module registered for its
// scheme, through navius's registry, exactly as a server configured with
// that URL does, on fresh storage made from the URL template the feature
// file gives ("fsdb://{dir}/data", {dir} a new directory), and runs the
// suites of providers/providertest on it. It holds each suite to the cases
// that provider must pass: the core ones, those of each capability its
// registered type implements (conditional writes, expiry, batches), the
// storage cases, and CrashDurable when the feature declares itself
// durable. A case that skips does not count as passed.
//
// What that proves: the registered provider behaves as the suites check,
// in this build. What it does not: intent. The module's code runs in the
// test process with the builder's rights, as any dependency's code does; it
// could tell it is being tested, or tamper with the process. It is not a
// sandbox.
package harness

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// TestName is the test the generated file declares.
const TestName = "TestNaviusHarness"

// DirPlaceholder is what a URL template's fresh directory is written as.
const DirPlaceholder = "{dir}"

// Target is one provider a feature declares, as its feature file says.
type Target struct {
	// Feature is the feature's name, for messages.
	Feature string
	// Provider is the provider's name (provides "database:NAME").
	Provider string
	// URL is the template of a fresh instance's URL: its scheme is one
	// the feature declares, {dir} a new directory.
	URL string
	// Schemes are every URL scheme the feature declares for the service;
	// each must open Provider.
	Schemes []string
	// Durable: the feature declares that acknowledged writes survive a
	// crash (the CrashDurable case is required).
	Durable bool
}

// Expand makes a URL from a template and a directory.
func Expand(template, dir string) string {
	return strings.ReplaceAll(template, DirPlaceholder, filepath.ToSlash(dir))
}

// resolve checks that every scheme of the target opens its provider, and
// returns the template's scheme.
func resolve(t *testing.T, service string, resolve func(name, rawURL string) (string, error), tg Target) {
	t.Helper()
	scheme, err := providers.Scheme(Expand(tg.URL, "/dir"))
	if err != nil {
		t.Fatalf("feature %s: the conformance URL for %s: %v", tg.Feature, service, err)
	}
	for _, s := range append([]string{scheme}, tg.Schemes...) {
		name, err := resolve("", s+"://")
		if err != nil {
			t.Fatalf("feature %s declares the %s URL scheme %q, but nothing registered it: %v", tg.Feature, service, s, err)
		}
		if name != tg.Provider {
			t.Fatalf("feature %s: the %s URL scheme %q opens provider %q, not %q as the feature file says", tg.Feature, service, s, name, tg.Provider)
		}
	}
}

// settings are the declared options of the feature with their defaults, as
// a server with no configuration for them hands them to the provider.
func settings(feature string) providers.Settings {
	s := providers.Settings{}
	for _, o := range providers.Options() {
		if o.Feature == feature {
			if v := o.DefaultValue(); v != "" {
				s[o.Key] = v
			}
		}
	}
	return s
}

// RunDatabase runs the database suite against the provider registered for
// the target's schemes.
func RunDatabase(t *testing.T, tg Target) {
	resolve(t, "database", providers.Databases.Resolve, tg)
	typ, caps, concrete := providers.DatabaseType(tg.Provider)
	config := func(dir string) providers.DatabaseConfig {
		return providers.DatabaseConfig{URL: Expand(tg.URL, dir), Settings: settings(tg.Feature)}
	}

	// What the opener returns decides which capability cases are
	// required: its declared type, or, for an opener declared to return
	// the Database interface, the database it opened.
	db, name, err := providers.OpenDatabase(context.Background(), config(t.TempDir()))
	if err != nil {
		t.Fatalf("feature %s: open %s: %v", tg.Feature, providers.Redact(config("DIR").URL), err)
	}
	if name != tg.Provider {
		t.Fatalf("feature %s: %s opened provider %q, not %q", tg.Feature, tg.URL, name, tg.Provider)
	}
	opened := reflect.TypeOf(db)
	_ = db.Close()
	if concrete && opened != typ {
		t.Fatalf("feature %s: provider %s is registered to return %v but opened a %v", tg.Feature, name, typ, opened)
	}
	if !concrete {
		_, v := db.(providers.Versioned)
		_, e := db.(providers.Expiring)
		_, b := db.(providers.Batcher)
		caps = providers.Capabilities{Conditional: v, Expiry: e, Batch: b}
	}
	required := conformance.RequiredDatabase(conformance.DatabaseProvider{
		Conditional: caps.Conditional, Expiry: caps.Expiry, Batch: caps.Batch, Storage: true, Durable: tg.Durable})
	t.Logf("provider %s (%v, capabilities [%s]) opened by %s must pass %d cases",
		name, opened, strings.Join(caps.Names(), " "), tg.URL, len(required))

	passed := watch(t)
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
		Config:  func(t *testing.T, dir string) providers.DatabaseConfig { return config(dir) },
		Durable: tg.Durable,
	})
	holdTo(t, name, required, *passed)
}

// RunCache runs the cache suite against the provider registered for the
// target's schemes.
func RunCache(t *testing.T, tg Target) {
	resolve(t, "cache", providers.Caches.Resolve, tg)
	passed := watch(t)
	providertest.RunCacheTests(t, providertest.CacheHarness{Open: func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
		cfg.URL, cfg.Settings = Expand(tg.URL, t.TempDir()), settings(tg.Feature)
		c, name, err := providers.OpenCache(context.Background(), cfg)
		if err != nil {
			t.Fatalf("feature %s: open %s: %v", tg.Feature, providers.Redact(cfg.URL), err)
		}
		if name != tg.Provider {
			t.Fatalf("feature %s: %s opened provider %q, not %q", tg.Feature, tg.URL, name, tg.Provider)
		}
		return c
	}})
	holdTo(t, tg.Provider, conformance.Required[conformance.Cache], *passed)
}

// watch collects the cases that passed in the suites run under t.
func watch(t *testing.T) *[]string {
	var passed []string
	conformance.SuiteDone = func(_ conformance.Marker, _, p []string) { passed = append(passed, p...) }
	t.Cleanup(func() { conformance.SuiteDone = nil })
	return &passed
}

// holdTo fails t unless every required case passed.
func holdTo(t *testing.T, provider string, required, passed []string) {
	t.Helper()
	if missing := conformance.Missing(required, passed); len(missing) > 0 {
		t.Fatalf("provider %s did not pass %s, which it must (%d of %d required cases passed)",
			provider, strings.Join(missing, ", "), len(required)-len(missing), len(required))
	}
}
