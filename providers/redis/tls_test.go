package redis_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/redis"
)

// writeCerts makes a CA and a server certificate for 127.0.0.1 signed by it.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "navius test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// TestTLS runs redis-server with TLS: rediss:// verifies the certificate by
// default (an unknown CA fails), succeeds with the CA configured, and
// insecure_skip_verify is the explicit opt-out.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	redistest.Start(t, "--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", "no")
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"
	ctx := context.Background()
	ping := func(tlsCfg providers.TLSConfig) error {
		db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: url, TLS: tlsCfg, Settings: settings()})
		if err != nil {
			return err
		}
		defer db.Close()
		if err := db.Set(ctx, "c", "k", []byte("over tls")); err != nil {
			return err
		}
		v, err := db.Get(ctx, "c", "k")
		if err == nil && string(v) != "over tls" {
			t.Fatalf("read back %q", v)
		}
		return err
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
	dir := t.TempDir()
	caFile, certFile, keyFile := writeCerts(t, dir)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
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
