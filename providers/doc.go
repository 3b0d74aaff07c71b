// Package providers holds the contracts navius's services are built on and the
// registries their implementations register into: small interfaces, config
// types, typed errors, declared options and health indicators. It depends on
// no backend library.
//
// It is, with providers/providertest, the public kit for provider authors,
// in navius's tree or in a module of their own (docs/PROVIDERS.md, "Writing
// a provider", walks through one):
//
//   - contracts: Database, Cache, LogSink, and Observer with its
//     capabilities Meter, Tracer, Profiler, HTTPContributor; a database may
//     add the capabilities Versioned (ETags and conditional writes),
//     Expiring (per-key TTL) and Batcher (atomic batches), which navius
//     detects with CapabilitiesOf and answers with 501 where missing; any
//     provider may add HealthContributor, and a pooled one PoolReporter; a
//     database that several navius instances share
//     adds ChangeFeed, most easily through ChangeHub (subscribers, a
//     listening session kept running with backoff, liveness and a health
//     indicator), as the Redis and PostgreSQL providers do;
//   - registries: RegisterDatabase and RegisterCache (by name and URL
//     schemes), RegisterLogSink, RegisterObserver. Registration happens in
//     init() and panics on a duplicate name or scheme, like database/sql's
//     Register. Each takes the provider's check: what opening it would
//     refuse in the config, found without opening anything, which navius
//     config check runs and opening runs first (CheckDatabase, CheckCache,
//     CheckObservers, CheckLogSinks);
//   - options: DeclareOptions with Option values; the provider reads them
//     back from Settings;
//   - errors: ErrNotFound, ErrInvalid (Invalid), ErrUnavailable
//     (Unavailable), ErrClosed, ErrPrecondition (Precondition),
//     ErrNotAtomic, ErrUnsupported (Unsupported), ErrFull (507: a capacity or
//     a disk full), which navius maps to HTTP statuses and health;
//   - helpers: EncodeKeyCursor and DecodeKeyCursor (opaque cursors for a
//     walk in key order), NewVersion, FormatVersion and ParseVersion
//     (versions as navius's own providers keep them), CheckBatch, Scheme,
//     Redact, TLSOptions and TLSFromSettings, Serve (a listener of a
//     provider's own; ObservabilityConfig.Serve serves it as navius serves
//     its API).
//
// navius's own implementations live in their own packages (providers/memory,
// providers/bolt, ...) and export constructors; the feature's gate file in
// the main package (providers_<feature>.go, compiled only under the feature's
// build tag) registers them from init(). A third-party provider's package
// registers itself from its own init(), which runs when `navius build --with`
// imports it. Every implementation runs the conformance suites in
// providers/providertest against its real backend.
package providers
