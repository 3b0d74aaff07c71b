package fsdb_test

import (
	"path/filepath"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"

	_ "example.com/navius-fsdb" // registers fsdb:// from init(), as navius's build does
)

// TestConformance runs navius's database suite on the provider as navius
// opens it: through the registry, by URL, as a server configured with
// database.url: fsdb:///... would. `navius build --with` runs it and
// reports it, but what verifies the provider is navius's own harness, which
// does the same from the feature file's "conformance" URL template.
func TestConformance(t *testing.T) {
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
		// Config: a fresh directory for each case; the suite reopens the
		// same config for its Durable case.
		Config: func(t *testing.T, dir string) providers.DatabaseConfig {
			return providers.DatabaseConfig{URL: "fsdb://" + filepath.ToSlash(filepath.Join(dir, "data"))}
		},
		// fsdb fsyncs before it acknowledges: CrashDurable holds it to that,
		// killing a writer process (and, as root, simulating a power loss).
		Durable: true,
	})
}
