// Package conformance is the protocol between navius's conformance suites
// (providers/providertest, which print it) and the verified build (which
// reads it back from `go test -json` events): the versioned name each suite
// runs its cases under, the required cases of each suite, and the marker a
// suite logs once its cases have run.
//
// The marker is one line logged by the suite's own subtest:
//
//	navius-conformance/v1 suite=database impl=example.com/navius-fsdb.*DB cases=14 passed=14 digest=5f0c…
//
// digest is an HMAC-SHA256, keyed by the nonce the verifier puts in
// NAVIUS_CONFORMANCE_NONCE, over the suite, the implementation type and the
// names of the cases that passed. The verifier recomputes it from the pass
// events it saw for those cases, so a module satisfies the check only by
// running the suite (or by deliberately forging events and the HMAC: the
// check guards against conformance tests that do not call the kit, skip it,
// or run it against another implementation; it is not a sandbox).
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
const Version = 1

// MarkerPrefix starts every marker line.
const MarkerPrefix = "navius-conformance/v1"

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
		"QueryWalkSurvivesWrites", "MalformedCursor", "Concurrent", "PingAndClose",
	},
	Cache: {
		"SetGetDelete", "ValuesAreCopied", "EmptyAndBinaryValues", "TTL", "DefaultTTL",
		"Clear", "Stats", "CapacityBound", "Concurrent",
	},
	Logging: {
		"FlushDelivers", "EntryCopiedAtWrite", "ConcurrentWrites", "CloseFlushesAndDropsLaterWrites",
		"FlushHonoursContext",
	},
	Observability: {
		"ObservesSomething", "ShutdownIsBounded",
	},
}

// SuiteTest is the name of the subtest a suite runs its cases under, e.g.
// "navius.database.v1".
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
	i := strings.Index(line, MarkerPrefix+" ")
	if i < 0 {
		return Marker{}, false
	}
	var m Marker
	seen := 0
	for _, field := range strings.Fields(line[i+len(MarkerPrefix):]) {
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
