// Package conformance is the protocol between navius's conformance suites
// (providers/providertest, which print it) and the verified build (which
// reads it back from `go test -json` events): the versioned name each suite
// runs its cases under, the required cases of each suite, and the marker a
// suite logs once its cases have run.
//
// The marker is one line logged by the suite's own subtest:
//
//	navius-conformance/v2 suite=database impl=example.com/navius-fsdb.*DB cases=18 passed=18 digest=5f0c…
//
// digest is an HMAC-SHA256, keyed by the nonce the verifier puts in
// NAVIUS_CONFORMANCE_NONCE, over the suite, the implementation type and the
// names of the cases that passed. The verifier recomputes it from the pass
// events it saw for those cases, so a module satisfies the check only by
// running the suite (or by deliberately forging events and the HMAC: the
// check guards against conformance tests that do not call the kit, skip it,
// or run it against another implementation; it is not a sandbox).
//
// The marker is what a module's own conformance test proves, which is only
// as good as that test: a module's code can read the nonce. A verified
// build of a schema-2 module does not rely on it: navius's harness
// (internal/conformance/harness) runs the suites itself against the
// provider the module registers, and holds each suite to the cases
// RequiredDatabase lists for what that provider is.
//
// The package imports no testing code, so the builder can use it.
package conformance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Version is the protocol version; it is part of every suite's subtest name
// and of the marker, so a builder never misreads an older or newer suite.
// Version 2 added the cases HonoursContext, HonoursContextWhileBlocked and
// CloseWhileBusy to the database and cache suites, and CrashDurable to the
// database suite.
const Version = 2

// MarkerPrefix starts every marker line.
const MarkerPrefix = "navius-conformance/v2"

// markerPrefixes are the marker versions ParseMarker reads: results of v1
// suites stay readable.
var markerPrefixes = []string{MarkerPrefix, "navius-conformance/v1"}

// NonceEnv is the environment variable that carries the verifier's nonce
// into the test process.
const NonceEnv = "NAVIUS_CONFORMANCE_NONCE"

// The suites, by the service name a feature's provides entries use
// ("database:fsdb" is checked by the database suite).
const (
	Database      = "database"
	Cache         = "cache"
	Logging       = "logging"
	Observability = "observability"
)

// Suites lists every suite name.
var Suites = []string{Database, Cache, Logging, Observability}

// Required are the cases each suite always runs; a suite adds others when
// the provider has the capability they check (durable storage, metrics,
// tracing, ...). The verifier insists on every required case passing.
var Required = map[string][]string{
	Database: {
		"GetMissing", "SetGetOverwrite", "ValuesAreCopied", "EmptyAndBinaryValues",
		"Delete", "CollectionsAreSeparate", "AwkwardNames", "QueryFilter", "QueryPaging",
		"QueryWalkSurvivesWrites", "MalformedCursor", "Concurrent", "HonoursContext",
		"HonoursContextWhileBlocked", "CloseWhileBusy", "PingAndClose",
	},
	Cache: {
		"SetGetDelete", "ValuesAreCopied", "EmptyAndBinaryValues", "TTL", "DefaultTTL",
		"Clear", "Stats", "CapacityBound", "Concurrent", "HonoursContext", "HonoursContextWhileBlocked",
		"CloseWhileBusy",
	},
	Logging: {
		"FlushDelivers", "EntryCopiedAtWrite", "ConcurrentWrites", "CloseFlushesAndDropsLaterWrites",
		"FlushHonoursContext",
	},
	Observability: {
		"ObservesSomething", "ShutdownIsBounded",
	},
}

// The database suite's further cases, run when the provider has what they
// check (providers/providertest).
var (
	// ConditionalCases check providers.Versioned.
	ConditionalCases = []string{"ConditionalVersions", "ConditionalIfMatch", "ConditionalCreateOnly",
		"ConditionalRemove", "ConditionalCompareAndSwap", "ConditionalReadsAgree"}
	// ExpiryCases check providers.Expiring.
	ExpiryCases = []string{"ExpiryGetListConditions", "ExpiryClearedByPut", "ExpirySweep"}
	// BatchCases check providers.Batcher; BatchTTL also needs Expiring.
	BatchCases = []string{"BatchAllOrNothing", "BatchDuplicateKeys", "BatchAcrossCollections", "BatchSeenWhole"}
	// StorageCases need storage the suite can reopen: Durable (a Close
	// and a reopen keep what was acknowledged), and ExpiryDurable for an
	// Expiring database.
	StorageCases = []string{"Durable"}
	// CrashCase needs a provider that declares itself durable: a writer
	// process is killed (and, where the kit can simulate it, the machine
	// loses power) after acknowledged writes, which must all be there.
	CrashCase = "CrashDurable"
)

// DatabaseProvider is what the database cases required of a provider
// depend on.
type DatabaseProvider struct {
	// Conditional, Expiry and Batch: the capabilities its registered type
	// (or, for an opener declared to return the Database interface, the
	// database it opened) implements.
	Conditional, Expiry, Batch bool
	// Storage: the harness can open the same storage again.
	Storage bool
	// Durable: it declares that acknowledged writes survive a crash.
	Durable bool
}

// RequiredDatabase lists the database cases p must pass: the core ones,
// those of each capability it has, and those of storage and durability.
func RequiredDatabase(p DatabaseProvider) []string {
	out := append([]string(nil), Required[Database]...)
	if p.Conditional {
		out = append(out, ConditionalCases...)
	}
	if p.Expiry {
		out = append(out, ExpiryCases...)
	}
	if p.Batch {
		out = append(out, BatchCases...)
		if p.Expiry {
			out = append(out, "BatchTTL")
		}
	}
	if p.Storage {
		out = append(out, StorageCases...)
		if p.Expiry {
			out = append(out, "ExpiryDurable")
		}
	}
	if p.Durable {
		out = append(out, CrashCase)
	}
	return out
}

// RequiredLogSink lists the log sink cases a sink must pass: the core
// ones, and StatsAddUp for one that counts its deliveries.
func RequiredLogSink(stats bool) []string {
	out := append([]string(nil), Required[Logging]...)
	if stats {
		out = append(out, "StatsAddUp")
	}
	return out
}

// ObserverCapabilities are the observability interfaces an observer
// implements.
type ObserverCapabilities struct {
	Meter, Tracer, Profiler, HTTP, Health bool
}

// RequiredObserver lists the observability cases an observer must pass:
// the core ones and those of each capability it has.
func RequiredObserver(c ObserverCapabilities) []string {
	out := append([]string(nil), Required[Observability]...)
	for _, capCases := range []struct {
		has   bool
		cases []string
	}{
		{c.Meter, []string{"MeterRecords", "MeterConcurrent"}},
		{c.Tracer, []string{"TracerExports"}},
		{c.Profiler, []string{"ProfilerProfiles"}},
		{c.HTTP, []string{"HTTPHandlersServe"}},
		{c.Health, []string{"HealthIndicatorsAnswer"}},
	} {
		if capCases.has {
			out = append(out, capCases.cases...)
		}
	}
	return out
}

// Missing returns the names in required that are not in passed.
func Missing(required, passed []string) []string {
	have := map[string]bool{}
	for _, p := range passed {
		have[p] = true
	}
	var out []string
	for _, r := range required {
		if !have[r] {
			out = append(out, r)
		}
	}
	return out
}

// SuiteDone, when set, sees every suite as it finishes: the marker, the
// cases that ran and those that passed. navius's harness sets it (an
// internal package: a provider module cannot) to hold the suite to the
// cases the registered provider must pass.
var SuiteDone func(m Marker, ran, passed []string)

// SuiteTest is the name of the subtest a suite runs its cases under, e.g.
// "navius.database.v2".
func SuiteTest(suite string) string {
	return "navius." + suite + ".v" + strconv.Itoa(Version)
}

// Marker is what a suite reports once its cases have run.
type Marker struct {
	Suite string
	// Impl is the tested implementation's type: package path and type name,
	// e.g. "example.com/navius-fsdb.*DB" (several, comma separated, when
	// the opener returned different types).
	Impl string
	// Cases is how many cases ran, Passed how many of them passed.
	Cases, Passed int
	// Digest is the HMAC over the passed cases; "-" without a nonce.
	Digest string
}

// String formats the marker line.
func (m Marker) String() string {
	return fmt.Sprintf("%s suite=%s impl=%s cases=%d passed=%d digest=%s",
		MarkerPrefix, m.Suite, m.Impl, m.Cases, m.Passed, m.Digest)
}

// ParseMarker finds a marker in a line of test output (t.Log indents it and
// adds the file and line).
func ParseMarker(line string) (Marker, bool) {
	i, prefix := -1, ""
	for _, p := range markerPrefixes {
		if i = strings.Index(line, p+" "); i >= 0 {
			prefix = p
			break
		}
	}
	if i < 0 {
		return Marker{}, false
	}
	var m Marker
	seen := 0
	for _, field := range strings.Fields(line[i+len(prefix):]) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return Marker{}, false
		}
		var err error
		switch k {
		case "suite":
			m.Suite = v
		case "impl":
			m.Impl = v
		case "cases":
			m.Cases, err = strconv.Atoi(v)
		case "passed":
			m.Passed, err = strconv.Atoi(v)
		case "digest":
			m.Digest = v
		default:
			return Marker{}, false
		}
		if err != nil {
			return Marker{}, false
		}
		seen++
	}
	return m, seen == 5 && m.Suite != "" && m.Impl != "" && m.Digest != ""
}

// Digest is the marker's HMAC: keyed by nonce, over the suite, the
// implementation and the passed case names (in any order; they are sorted).
// It is "-" when there is no nonce (a developer's own test run).
func Digest(nonce, suite, impl string, passed []string) string {
	if nonce == "" {
		return "-"
	}
	names := append([]string(nil), passed...)
	sort.Strings(names)
	mac := hmac.New(sha256.New, []byte(nonce))
	fmt.Fprintf(mac, "%s\n%s\n%s\n%s", MarkerPrefix, suite, impl, strings.Join(names, "\n"))
	return hex.EncodeToString(mac.Sum(nil))[:32]
}
