// Package providertest holds navius's conformance suites, one per provider
// contract, in the manner of the Go CDK's drivertest. Every provider, in
// navius's tree or in another module, runs the suite of each contract it
// implements against its real backend:
//
//	func TestConformance(t *testing.T) {
//		providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
//			Storage: func(t *testing.T) providertest.OpenDatabase {
//				dir := t.TempDir()
//				return func(t *testing.T) providers.Database { ... open dir ... }
//			},
//		})
//	}
//
// The entry points are RunDatabaseTests, RunCacheTests, RunLogSinkTests and
// RunObserverTests, each taking a harness that opens fresh instances (and,
// where the contract delivers somewhere, reads back what arrived).
// TestDatabase, TestCache and TestLogSink are shorthands taking an opener
// only. CheckRefuses runs a table of configurations a provider's
// check must refuse; Settings, RoundTrip, ChangeRecorder, WalkKeys,
// Concurrently and Console help a provider's own tests (its options'
// defaults, how it connects, what its change feed delivers, what a paged
// walk returns, calls from many goroutines, what a log sink reports on the
// console).
//
// Each suite runs its cases as subtests of a versioned subtest named
// navius.<suite>.v2 (navius.database.v2/Delete, ...). When its cases are
// done it logs one marker line:
//
//	navius-conformance/v2 suite=database impl=example.com/navius-fsdb.*DB cases=18 passed=18 digest=…
//
// naming the implementation type it exercised and the number of cases that
// ran and passed. `navius build --with` runs a module's conformance test with
// `go test -json` and a fresh nonce in NAVIUS_CONFORMANCE_NONCE; the digest
// is an HMAC of the passed cases keyed by that nonce. The build goes ahead
// only when the test passed, every suite the module's feature needs logged
// a valid marker, every required case of it passed, and the implementation
// it tested is a package of that module. A conformance test must therefore
// call these functions itself, not skip them, and open the module's own
// provider (best through the registry, which also proves that init()
// registered it).
package providertest
