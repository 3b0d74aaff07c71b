// Package wrapmem is a test fixture, the first way issue 22 passed the
// old verification: the provider it registers for wrapmem:// has a Delete
// that does nothing, while its conformance test hands navius's suite a
// wrapper of navius's memory database, a type of this module that passes.
package wrapmem

import (
	"context"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

func init() {
	providers.RegisterDatabase("wrapmem", []string{"wrapmem"}, Open)
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
