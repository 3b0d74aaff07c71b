package bolt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

func TestCheckDatabase(t *testing.T) {
	providertest.CheckRefuses(t, CheckDatabase, "s3cret", providertest.Refusals{
		{"bolt://", nil, "names no file"},
		{"bolt:///var/lib/", nil, "names no file"},
		{"bolt://./x.db", providers.Settings{"bolt.max_batch_size": "0"}, "bolt.max_batch_size is 0"},
		{"bolt://./x.db", providers.Settings{"bolt.max_batch_delay": "0"}, "bolt.max_batch_delay is 0"},
		{"bolt://./x.db", providers.Settings{"bolt.lock_timeout": "0"}, "would wait forever"},
	})
	if err := CheckDatabase(providers.DatabaseConfig{URL: "bolt://./x.db"}); err != nil {
		t.Errorf("a good URL with settings left to their defaults: %v", err)
	}
}

// TestOpenErrorNamesTheFileOnce: bbolt's own error names the file already.
func TestOpenErrorNamesTheFileOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.db")
	if err := os.Mkdir(path, 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	_, err := Open(path, Config{})
	if err == nil || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("error = %v, want the path once", err)
	}
}
