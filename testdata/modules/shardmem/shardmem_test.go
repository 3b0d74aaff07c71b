package shardmem_test

import (
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"

	_ "example.com/navius-shardmem" // registers shardmem:// from init(), as navius's build does
)

// TestConformance runs navius's database suite on the provider as navius
// opens it, by URL through the registry; each directory names a store of
// its own, which a reopen finds again.
func TestConformance(t *testing.T) {
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
		Config: func(t *testing.T, dir string) providers.DatabaseConfig {
			return providers.DatabaseConfig{URL: "shardmem://" + dir}
		},
	})
}
