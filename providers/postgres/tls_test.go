package postgres_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/tlstest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/postgres"
	"github.com/navius-dev/navius/providers/providertest"
)

// TestTLS runs a server that refuses connections without TLS, with a
// certificate from a generated CA: verify-full works with the CA file (and
// is what the CA file alone asks for), an unknown CA or a wrong name is
// refused, sslmode=require with a CA verifies the chain, and no setting
// falls back to plaintext.
func TestTLS(t *testing.T) {
	caFile, pair := tlstest.Server(t)
	tlsSrv := pgtest.Start(t, pgtest.Options{CertFile: pair.CertFile, KeyFile: pair.KeyFile, RequireTLS: true})
	otherCA, _ := tlstest.Server(t) // a CA that did not sign the server's certificate
	ctx := context.Background()
	try := func(url string, tlsCfg providers.TLSConfig) error {
		db, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, TLS: tlsCfg, Timeout: 2 * time.Second, Settings: settings()})
		if err != nil {
			return err
		}
		return providertest.RoundTrip(t, db)
	}
	base := "postgres://postgres@" + tlsSrv.Addr() + "/postgres"
	byName := "postgres://postgres@localhost:" + strings.Split(tlsSrv.Addr(), ":")[1] + "/postgres"
	withCA := providers.TLSConfig{Enabled: true, CAFile: caFile}

	for _, ok := range []struct {
		name string
		url  string
		tls  providers.TLSConfig
	}{
		{"verify-full with the CA file", base + "?sslmode=verify-full", withCA},
		{"the CA file alone means verify-full", base, withCA},
		{"verify-full by host name", byName + "?sslmode=verify-full", withCA},
		{"sslrootcert in the URL", base + "?sslmode=verify-full&sslrootcert=" + caFile, providers.TLSConfig{}},
		{"require with the CA", base + "?sslmode=require", withCA},
		{"insecure_skip_verify", base + "?sslmode=require", providers.TLSConfig{Enabled: true, InsecureSkipVerify: true}},
	} {
		if err := try(ok.url, ok.tls); err != nil {
			t.Errorf("%s: %v", ok.name, err)
		}
	}

	for _, bad := range []struct {
		name  string
		url   string
		tls   providers.TLSConfig
		kind  error
		wants string
	}{
		{"system pool does not know the CA", base + "?sslmode=verify-full", providers.TLSConfig{}, providers.ErrInvalid, "database.tls.ca_file"},
		{"another CA", base + "?sslmode=verify-full", providers.TLSConfig{Enabled: true, CAFile: otherCA}, providers.ErrInvalid, "certificate"},
		{"require with another CA verifies the chain", base + "?sslmode=require", providers.TLSConfig{Enabled: true, CAFile: otherCA}, providers.ErrInvalid, "certificate"},
		{"a name the certificate does not hold", base + "?sslmode=verify-full", providers.TLSConfig{Enabled: true, CAFile: caFile, ServerName: "db.example"}, providers.ErrInvalid, "certificate"},
		{"plaintext is refused by the server", base + "?sslmode=disable", providers.TLSConfig{}, providers.ErrInvalid, "accepts only TLS"},
		{"TLS options with sslmode=disable", base + "?sslmode=disable", withCA, providers.ErrInvalid, "sslmode=disable"},
		{"prefer", base + "?sslmode=prefer", withCA, providers.ErrInvalid, "sslmode=prefer"},
		{"missing CA file", base, providers.TLSConfig{Enabled: true, CAFile: filepath.Join(t.TempDir(), "nope.pem")}, providers.ErrInvalid, "database.tls.ca_file"},
	} {
		err := try(bad.url, bad.tls)
		if !errors.Is(err, bad.kind) || !strings.Contains(err.Error(), bad.wants) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line %v saying %q", bad.name, err, bad.kind, bad.wants)
			continue
		}
		t.Logf("%s: %v", bad.name, err)
	}
}
