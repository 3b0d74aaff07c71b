package postgres

import (
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// TestCheck: what OpenDatabase refuses before it connects, the check
// refuses without connecting, never showing the password.
func TestCheck(t *testing.T) {
	providertest.CheckRefuses(t, CheckDatabase, "s3cret", providertest.Refusals{
		{"postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=prefer", nil, "sslmode=prefer may fall back to an unencrypted connection"},
		{"postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=allow", nil, "sslmode=allow"},
		{"postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=verify-full", providers.Settings{"database.tls.ca_file": "/no/such/ca.pem"}, "database.tls.ca_file"},
		{"postgres://navius:s3cret@127.0.0.1:1/navius", providers.Settings{"postgres.table": "Bad-Name"}, "is not a table name"},
		{"host=127.0.0.1 user=navius password=s3cret dbname=navius", nil, "bad PostgreSQL URL"},
		{"postgres//navius:s3cret@127.0.0.1/navius", nil, "bad PostgreSQL URL"},
	})
	if err := CheckDatabase(providers.DatabaseConfig{URL: "postgres://navius:s3cret@127.0.0.1:1/navius?sslmode=disable"}); err != nil {
		t.Errorf("a good URL: %v", err)
	}
}

// TestTimeoutBounds: the timeouts refuse 0 (pgx reads 0 as no limit at all), as
// the core timeouts do, rather than replacing it with the default unsaid;
// config check and serve both report it (e2e TestCheckAgreesWithServe).
func TestTimeoutBounds(t *testing.T) {
	providertest.CheckTimeoutsRefuseZero(t, Options, "postgres.connect_timeout")
}
