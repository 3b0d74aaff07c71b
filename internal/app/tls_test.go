package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/tlstest"
	"github.com/navius-dev/navius/providers"
)

func tlsConfig(t *testing.T, set map[string]string) *config.Config {
	t.Helper()
	var flags []config.Flag
	for k, v := range set {
		flags = append(flags, config.Flag{Key: k, Value: v, Name: "set " + k})
	}
	c, err := config.Load(config.Sources{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestListenerTLSChecks: config check loads the pair and the CA as serve
// does: a key that is not the certificate's and an expired certificate are
// refused, one close to its expiry warned about.
func TestListenerTLSChecks(t *testing.T) {
	ca := tlstest.NewCA(t, "navius test CA")
	good := ca.Issue(t, "good.pem", tlstest.Leaf{CommonName: "navius"})
	other := ca.Issue(t, "other.pem", tlstest.Leaf{CommonName: "other"})
	soon := ca.Issue(t, "soon.pem", tlstest.Leaf{CommonName: "soon", NotAfter: time.Now().Add(10 * 24 * time.Hour)})
	expired := ca.Issue(t, "expired.pem", tlstest.Leaf{CommonName: "old", NotAfter: time.Now().Add(-time.Minute)})
	cases := []struct {
		set     map[string]string
		err     string
		warning string
	}{
		{set: map[string]string{"server.tls.cert_file": good.CertFile, "server.tls.key_file": good.KeyFile}},
		{set: map[string]string{"server.tls.cert_file": good.CertFile, "server.tls.key_file": other.KeyFile}, err: "is not the private key of server.tls.cert_file"},
		{set: map[string]string{"server.tls.cert_file": expired.CertFile, "server.tls.key_file": expired.KeyFile}, err: "expired on"},
		{set: map[string]string{"server.tls.cert_file": soon.CertFile, "server.tls.key_file": soon.KeyFile}, warning: "expires on"},
		{set: map[string]string{"server.tls.cert_file": "/no/such.pem", "server.tls.key_file": good.KeyFile}, err: "server.tls.cert_file: open /no/such.pem: no such file"},
		{set: map[string]string{"server.tls.cert_file": good.CertFile, "server.tls.key_file": good.KeyFile, "server.tls.client_auth": "request", "server.tls.client_ca_file": good.KeyFile},
			err: "holds no PEM certificate"},
		{set: map[string]string{"server.tls.cert_file": good.CertFile, "server.tls.key_file": good.KeyFile, "server.tls.client_ca_file": ca.File}, err: "client_auth is none"},
		{set: map[string]string{"server.tls.client_auth": "require", "server.tls.client_ca_file": ca.File}, err: "TLS is off"},
	}
	for i, c := range cases {
		v := &Validated{Config: tlsConfig(t, c.set)}
		errs := checkTLS(Options{}, v)
		got := ""
		for _, e := range errs {
			got += e.Error() + "\n"
		}
		if c.err == "" && got != "" || c.err != "" && !strings.Contains(got, c.err) {
			t.Errorf("case %d: %q, want %q", i, got, c.err)
		}
		if w := strings.Join(v.Config.Warnings, "\n"); c.warning != "" && !strings.Contains(w, c.warning) || c.warning == "" && w != "" {
			t.Errorf("case %d: warnings %q, want %q", i, w, c.warning)
		}
	}
}

// TestListenerTLSReloads: a replaced certificate is served to the next
// handshake, on a change of its files or on SIGHUP; files that do not load
// leave the previous certificate in use, logged once.
func TestListenerTLSReloads(t *testing.T) {
	ca := tlstest.NewCA(t, "navius test CA")
	first := ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "first"})
	v := &Validated{Config: tlsConfig(t, map[string]string{"server.tls.cert_file": first.CertFile, "server.tls.key_file": first.KeyFile})}
	if errs := checkTLS(Options{}, v); len(errs) > 0 {
		t.Fatal(errs)
	}
	var logs bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logs)
	v.tls.log = log
	ln, err := tls.Listen("tcp", "127.0.0.1:0", v.tls.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	served := func() string {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q", got)
	}

	// A renewal written over the files (rename, as tlstest writes them).
	ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "second"})
	v.tls.reload(false)
	if got := served(); got != "second" {
		t.Fatalf("after the files changed, served %q", got)
	}
	// A key that does not match: the previous pair stays, and the failure
	// is logged once however often it is seen.
	third := ca.Issue(t, "third.pem", tlstest.Leaf{CommonName: "third"})
	key, _ := os.ReadFile(third.KeyFile)
	if err := os.WriteFile(first.KeyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	v.tls.reload(false)
	v.tls.reload(true)
	if got := served(); got != "second" {
		t.Fatalf("after a bad renewal, served %q", got)
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("the failed reload was logged %d times:\n%s", n, logs.String())
	}
	// SIGHUP reloads at once.
	ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "fourth"})
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal)
	done := make(chan struct{})
	go func() { v.tls.watchWith(ctx, time.Hour, hup); close(done) }()
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // the first was handled once this one is taken
	cancel()
	<-done
	if got := served(); got != "fourth" {
		t.Fatalf("after SIGHUP, served %q", got)
	}
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs.String())
	}
}

// TestCertificateIndicator: /health shows the certificate's expiry.
func TestCertificateIndicator(t *testing.T) {
	ca := tlstest.NewCA(t, "navius test CA")
	p := ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "navius", NotAfter: time.Now().Add(50 * time.Hour)})
	b, _, err := listenerFiles{cert: p.CertFile, key: p.KeyFile}.load(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := certificateIndicator(newListenerTLS(listenerFiles{}, b)).Check(context.Background())
	if r.Status != providers.StatusUp || r.Details["not_after"] != p.Cert.NotAfter.UTC().Format(time.RFC3339) || r.Details["days_left"] != 2 {
		t.Fatalf("indicator = %+v", r)
	}
}
