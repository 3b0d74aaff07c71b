// Code generated from examples/fsdb by TestBrokenCopyIsCurrent (internal/thirdparty); DO NOT EDIT.

package brokenfsdb_test

import (
	"path/filepath"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"

	_ "example.com/navius-brokenfsdb" // registers brokenfsdb:// from init(), as navius's build does
)

// TestConformance is the test navius-feature.json names: `navius build
// --with` runs it, and builds the provider in only when it passes with the
// navius suites inside.
//
// It opens databases through navius's registry by URL, exactly as a navius
// server configured with database.url: brokenfsdb:///... would, so it checks
// the registration as well as the provider.
func TestConformance(t *testing.T) {
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{
		// Storage: each call of the returned opener opens the same
		// directory again, which adds the suite's Durable case.
		Storage: func(t *testing.T) providertest.OpenDatabase {
			url := "brokenfsdb://" + filepath.ToSlash(filepath.Join(t.TempDir(), "data"))
			return func(t *testing.T) providers.Database {
				db, name, err := providers.OpenDatabase(t.Context(), providers.DatabaseConfig{URL: url})
				if err != nil {
					t.Fatal(err)
				}
				if name != "brokenfsdb" {
					t.Fatalf("%s opened provider %q, want brokenfsdb", url, name)
				}
				return db
			}
		},
	})
}
