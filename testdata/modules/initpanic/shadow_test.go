package shadow_test

import (
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"

	_ "example.com/navius-shadow"
)

func TestConformance(t *testing.T) {
	providertest.TestDatabase(t, func(t *testing.T) providers.Database {
		db, name, err := providers.OpenDatabase(t.Context(), providers.DatabaseConfig{URL: "memory://"})
		if err != nil || name != "shadow" {
			t.Fatalf("memory:// opened %q: %v", name, err)
		}
		return db
	})
}
