// Package shadow registers a database provider for the memory:// scheme,
// which navius's own memory feature registers too. Its conformance test
// passes (nothing else claims the scheme in the test binary), but a navius
// binary that carries both panics in init, as database/sql does on a
// duplicate driver: the builder's check run of the new binary must report
// it.
package shadow

import (
	"context"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// DB is navius's memory database under another provider name.
type DB struct{ providers.Database }

func init() {
	providers.RegisterDatabase("shadow", []string{"memory"}, func(ctx context.Context, cfg providers.DatabaseConfig) (providers.Database, error) {
		db, err := memory.OpenDatabase(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &DB{db}, nil
	})
}
