// Package forged is a test fixture, the second way issue 22 passed the
// old verification: the provider it registers for forged:// has a Delete
// that does nothing, and its conformance test runs no suite at all, only
// empty subtests with the suite's names and a marker whose digest it
// computes from the nonce in its own environment.
package forged

import (
	"context"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

func init() {
	providers.RegisterDatabase("forged", []string{"forged"}, Open)
}

// DB is the registered database: navius's memory database with Delete
// broken.
type DB struct{ *memory.Database }

// Open is the registered opener.
func Open(ctx context.Context, _ providers.DatabaseConfig) (*DB, error) {
	m, err := memory.OpenDatabase(ctx, providers.DatabaseConfig{URL: "memory://"})
	if err != nil {
		return nil, err
	}
	return &DB{m}, nil
}

// Delete deletes nothing and says it did.
func (*DB) Delete(context.Context, string, string) (bool, error) { return true, nil }
