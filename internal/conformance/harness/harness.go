// Package harness is the conformance harness navius's builder runs against
// a provider module before building it in (navius build --with, for a
// feature file of schema 2). The builder writes one test file into this
// package, in its overlay only: it imports the feature's package (whose
// init registers the provider, as in the navius binary) and calls
// RunDatabase, RunCache, RunLogSink or RunObserver for each service the
// feature's "conformance" covers.
// `go test -json` of this package, with the build's own go.mod, is the
// verification; the module's own tests take no part in its verdict.
//
// The harness opens the provider that the module registered for its
// scheme, through navius's registry, exactly as a server configured with
// that URL does, on fresh storage made from the URL template the feature
// file gives ("fsdb://{dir}/data", {dir} a new directory, {id} a fresh
// token), and runs the suites of providers/providertest on it; a log sink
// or an observer it opens by name with the settings the feature file gives,
// reading back what it delivered through the package's named function. It holds each suite to the cases
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
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// TestName is the test the generated file declares.
const TestName = "TestNaviusHarness"

// DirPlaceholder is what a template's fresh directory is written as, and
// IDPlaceholder a fresh token (for data on a server: a key prefix, a
// table name).
const (
	DirPlaceholder = "{dir}"
	IDPlaceholder  = "{id}"
)

// Target is one provider a feature declares, as its feature file says.
type Target struct {
	// Feature is the feature's name, for messages.
	Feature string
	// Provider is the provider's name (provides "database:NAME").
	Provider string
	// URL is the template of a fresh instance's URL: its scheme is one
	// the feature declares, {dir} a new directory, {id} a fresh token.
	URL string
	// Options are the instance's settings beside the declared options'
	// defaults, templates as URL is.
	Options map[string]string
	// Schemes are every URL scheme the feature declares for the service;
	// each must open Provider.
	Schemes []string
	// Durable: the feature declares that acknowledged writes survive a
	// crash (the CrashDurable case is required).
	Durable bool
}

// Expand fills a template for the instance whose directory is dir: {dir}
// is dir, {id} a token derived from it (so that reopening the instance
// finds it again; directories are never reused).
func Expand(template, dir string) string {
	sum := sha256.Sum256([]byte(dir))
	id := "n" + hex.EncodeToString(sum[:8])
	return strings.NewReplacer(DirPlaceholder, filepath.ToSlash(dir), IDPlaceholder, id).Replace(template)
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
// a server with no configuration for them hands them to the provider, and
// the target's options for the instance in dir.
func settings(tg Target, dir string) providers.Settings {
	s := providers.Settings{}
	for _, o := range providers.Options() {
		if o.Feature == tg.Feature {
			if v := o.DefaultValue(); v != "" {
				s[o.Key] = v
			}
		}
	}
	for k, v := range tg.Options {
		s[k] = Expand(v, dir)
	}
	return s
}

// RunDatabase runs the database suite against the provider registered for
// the target's schemes.
func RunDatabase(t *testing.T, tg Target) {
	resolve(t, "database", providers.Databases.Resolve, tg)
	typ, caps, concrete := providers.DatabaseType(tg.Provider)
	config := func(dir string) providers.DatabaseConfig {
		return providers.DatabaseConfig{URL: Expand(tg.URL, dir), Settings: settings(tg, dir)}
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
		dir := t.TempDir()
		cfg.URL, cfg.Settings = Expand(tg.URL, dir), settings(tg, dir)
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

// ReadEntries reads back what a log sink opened with settings delivered
// (the module's function the feature file names in "read").
type ReadEntries func(providers.Settings) ([]providers.LogEntry, error)

// RunLogSink runs the log sink suite against the sink the target's
// provider opens, through navius's registry, with the target's settings
// for a fresh directory; read reads back what it delivered.
func RunLogSink(t *testing.T, tg Target, read ReadEntries) {
	p := logSinkProvider(t, tg)
	open := func(t *testing.T, dir string) (providers.LogSink, providers.Settings) {
		s := settings(tg, dir)
		if !p.Enabled(s) {
			t.Fatalf("feature %s: log sink %s is off with the settings of \"conformance\" (%s): give the settings that turn it on", tg.Feature, tg.Provider, keys(s))
		}
		if p.Check != nil {
			if err := p.Check(s); err != nil {
				t.Fatalf("feature %s: log sink %s: its check refuses the settings of \"conformance\": %v", tg.Feature, tg.Provider, err)
			}
		}
		sink, err := p.Open(context.Background(), providers.LogSinkConfig{Settings: s, Console: func(providers.LogLevel, string, map[string]any) {}})
		if err != nil {
			t.Fatalf("feature %s: open log sink %s: %v", tg.Feature, tg.Provider, err)
		}
		return sink, s
	}
	// What the opened sink is decides whether the stats case is required.
	probe, _ := open(t, t.TempDir())
	_, stats := probe.(providers.LogSinkStatser)
	_ = probe.Close(context.Background())
	required := conformance.RequiredLogSink(stats)
	t.Logf("log sink %s (%T) must pass %d cases", tg.Provider, probe, len(required))

	passed := watch(t)
	providertest.RunLogSinkTests(t, providertest.LogSinkHarness{Open: func(t *testing.T) (providers.LogSink, func() []providers.LogEntry) {
		sink, s := open(t, t.TempDir())
		return sink, func() []providers.LogEntry {
			entries, err := read(s)
			if err != nil {
				t.Fatalf("feature %s: reading back what log sink %s delivered: %v", tg.Feature, tg.Provider, err)
			}
			return entries
		}
	}})
	holdTo(t, tg.Provider, required, *passed)
}

// logSinkProvider finds the target's log sink among the registered.
func logSinkProvider(t *testing.T, tg Target) providers.LogSinkProvider {
	t.Helper()
	var names []string
	for _, p := range providers.LogSinkProviders() {
		if p.Name == tg.Provider {
			return p
		}
		names = append(names, p.Name)
	}
	t.Fatalf("feature %s provides log sink %q, but nothing registered it (registered: %s)", tg.Feature, tg.Provider, strings.Join(names, ", "))
	return providers.LogSinkProvider{}
}

// ReadMetric reads back what an observer's backend holds for metric m with
// these label values (the module's function the feature file names in
// "read"): a counter's total, a gauge's last value or a histogram's sum,
// a histogram's count, and whether the series is there.
type ReadMetric func(o providers.Observer, s providers.Settings, m providers.Metric, labelValues []string) (value float64, count uint64, found bool, err error)

// RunObserver runs the observability suite against the observer the
// target's provider opens, through navius's registry, with the target's
// settings for a fresh directory; read, when not nil, reads back metrics.
func RunObserver(t *testing.T, tg Target, read ReadMetric) {
	open := func(t *testing.T) (providers.Observer, providers.Settings) {
		s := settings(tg, t.TempDir())
		o, name, err := providers.Observers.Open(context.Background(), tg.Provider, "", providers.ObservabilityConfig{ServiceName: "navius", Settings: s})
		switch {
		case err != nil:
			t.Fatalf("feature %s: open observer %s: %v", tg.Feature, tg.Provider, err)
		case name != tg.Provider:
			t.Fatalf("feature %s: opened provider %q, not %q", tg.Feature, name, tg.Provider)
		case o == nil:
			t.Fatalf("feature %s: observer %s is off with the settings of \"conformance\" (%s): give the settings that turn it on", tg.Feature, tg.Provider, keys(s))
		}
		return o, s
	}
	probe, _ := open(t)
	required := conformance.RequiredObserver(capabilities(probe))
	_ = probe.Shutdown(context.Background())
	t.Logf("observer %s (%T) must pass %d cases", tg.Provider, probe, len(required))

	passed := watch(t)
	var mu sync.Mutex
	opened := map[providers.Observer]providers.Settings{}
	h := providertest.ObserverHarness{Open: func(t *testing.T) providers.Observer {
		o, s := open(t)
		mu.Lock()
		defer mu.Unlock()
		opened[o] = s
		return o
	}}
	if read != nil {
		h.Metric = func(t *testing.T, o providers.Observer, m providers.Metric, labelValues []string) (providertest.MetricValue, bool) {
			mu.Lock()
			s := opened[o]
			mu.Unlock()
			v, n, found, err := read(o, s, m, labelValues)
			if err != nil {
				t.Fatalf("feature %s: reading back metric %s from observer %s: %v", tg.Feature, m.Name, tg.Provider, err)
			}
			return providertest.MetricValue{Value: v, Count: n}, found
		}
	}
	providertest.RunObserverTests(t, h)
	holdTo(t, tg.Provider, required, *passed)
}

// capabilities are the observability interfaces o implements.
func capabilities(o providers.Observer) conformance.ObserverCapabilities {
	_, meter := o.(providers.Meter)
	_, tracer := o.(providers.Tracer)
	_, profiler := o.(providers.Profiler)
	_, handlers := o.(providers.HTTPContributor)
	_, health := o.(providers.HealthContributor)
	return conformance.ObserverCapabilities{Meter: meter, Tracer: tracer, Profiler: profiler, HTTP: handlers, Health: health}
}

// keys lists the settings' keys, for messages (never their values).
func keys(s providers.Settings) string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
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
