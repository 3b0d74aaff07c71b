package redis_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/internal/tlstest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/redis"
)

// tlsFiles are a CA, a server certificate for 127.0.0.1 and a free port
// for redis-server's TLS listener.
func tlsFiles(t *testing.T) (caFile, certFile, keyFile string, port int) {
	t.Helper()
	caFile, pair := tlstest.Server(t)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return caFile, pair.CertFile, pair.KeyFile, port
}

// TestTLS runs redis-server with TLS: rediss:// verifies the certificate by
// default (an unknown CA fails), succeeds with the CA configured, and
// insecure_skip_verify is the explicit opt-out.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, tlsPort := tlsFiles(t)
	redistest.Start(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"
	ctx := context.Background()
	ping := func(tlsCfg providers.TLSConfig) error {
		db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, TLS: tlsCfg, Settings: settings()})
		if err != nil {
			return err
		}
		return providertest.RoundTrip(t, db)
	}
	if err := ping(providers.TLSConfig{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unknown CA: %v, want a certificate verification error", err)
	}
	if err := ping(providers.TLSConfig{Enabled: true, CAFile: caFile}); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if err := ping(providers.TLSConfig{Enabled: true, InsecureSkipVerify: true}); err != nil {
		t.Fatalf("insecure_skip_verify: %v", err)
	}
	if _, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, TLS: providers.TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}, Settings: settings()}); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

// TestTLSMultiHost: rediss+cluster:// dials each node with TLS verified
// under the node's own address. Against a TLS node without cluster support,
// the open-time check gets through the handshake (with the CA) and reports
// that the node is no cluster node; without the CA, the handshake fails, so
// the check learns nothing and the failure shows when the data is used.
func TestTLSMultiHost(t *testing.T) {
	caFile, certFile, keyFile, tlsPort := tlsFiles(t)
	redistest.Start(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	url := "rediss+cluster://127.0.0.1:" + strconv.Itoa(tlsPort)
	ctx := context.Background()
	_, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, TLS: providers.TLSConfig{Enabled: true, CAFile: caFile}, Settings: settings()})
	if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "is not a cluster node") {
		t.Fatalf("with the CA: %v, want the node's answer over TLS (not a cluster node)", err)
	}
	db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, Settings: settings()})
	if err != nil {
		t.Fatalf("without the CA: %v", err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: Ping = %v, want a certificate verification error", err)
	}
}

// TestTLSToPlainServer: rediss:// to a Redis that speaks no TLS gets no
// answer to its handshake; the start says so (the server answers plain
// text: use redis://) instead of "no answer to PING".
func TestTLSToPlainServer(t *testing.T) {
	srv := redistest.Start(t)
	for _, url := range []string{"rediss://" + srv.Addr + "/0", "rediss+cluster://" + srv.Addr} {
		_, err := redis.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: url, Settings: settings()})
		want := srv.Addr + " answers plain-text Redis, not TLS: use redis://"
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s to a plain-text Redis: %v, want ErrInvalid with %q", url, err, want)
		}
	}
}
