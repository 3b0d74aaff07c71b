package bolt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func TestCheckDatabase(t *testing.T) {
	cases := []struct {
		url      string
		settings providers.Settings
		want     string
	}{
		{"bolt://", nil, "names no file"},
		{"bolt:///var/lib/", nil, "names no file"},
		{"bolt://./x.db", providers.Settings{"bolt.max_batch_size": "0"}, "bolt.max_batch_size is 0"},
		{"bolt://./x.db", providers.Settings{"bolt.max_batch_delay": "0"}, "bolt.max_batch_delay is 0"},
		{"bolt://./x.db", providers.Settings{"bolt.lock_timeout": "0"}, "would wait forever"},
	}
	for _, c := range cases {
		err := CheckDatabase(providers.DatabaseConfig{URL: c.url, Settings: c.settings})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.url, c.settings, err, c.want)
		}
	}
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
