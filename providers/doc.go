// Package providers holds the contracts navius's services are built on and the
// registries their implementations register into: small interfaces, config
// types, typed errors, declared options and health indicators. It depends on
// no backend library.
//
// An implementation lives in its own package (providers/memory,
// providers/bolt, ...) and exports constructors; the feature's gate file in
// the main package (providers_<feature>.go, compiled only under the feature's
// build tag) registers them from init(), like database/sql drivers. Every
// implementation runs the conformance suite in providers/providertest against
// its real backend.
package providers
