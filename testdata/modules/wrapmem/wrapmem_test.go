package wrapmem

import (
	"context"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
	"github.com/navius-dev/navius/providers/providertest"
)

// Wrapper is what the test hands the suite: a type of this module, so the
// marker names this module, with navius's memory database inside.
type Wrapper struct{ *memory.Database }

func TestConformance(t *testing.T) {
	providertest.TestDatabase(t, func(t *testing.T) providers.Database {
		m, err := memory.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: "memory://"})
		if err != nil {
			t.Fatal(err)
		}
		return Wrapper{m}
	})
}
