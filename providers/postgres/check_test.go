package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// TestCheck: what OpenDatabase refuses before it connects, the check
// refuses without connecting, never showing the password.
func TestCheck(t *testing.T) {
	cases := []struct {
		url      string
		settings providers.Settings
		want     string
	}{
		{"postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=prefer", nil, "sslmode=prefer may fall back to an unencrypted connection"},
		{"postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=allow", nil, "sslmode=allow"},
		{"postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=verify-full", providers.Settings{"database.tls.ca_file": "/no/such/ca.pem"}, "database.tls.ca_file"},
		{"postgres://navius:s3cret@127.0.0.1:1/navius", providers.Settings{"postgres.table": "Bad-Name"}, "is not a table name"},
		{"host=127.0.0.1 user=navius password=s3cret dbname=navius", nil, "bad PostgreSQL URL"},
		{"postgres//navius:s3cret@127.0.0.1/navius", nil, "bad PostgreSQL URL"},
	}
	for _, c := range cases {
		cfg := providers.DatabaseConfig{URL: c.url, Settings: c.settings, TLS: providers.TLSFromSettings(c.settings, "database")}
		err := CheckDatabase(cfg)
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: %v, want %q", c.url, c.settings, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", c.url, err)
		}
	}
	if err := CheckDatabase(providers.DatabaseConfig{URL: "postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=disable"}); err != nil {
		t.Errorf("a good URL: %v", err)
	}
}
