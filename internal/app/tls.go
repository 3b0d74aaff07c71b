package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/providers"
)

// expiryWarning is how close to its expiry a certificate gets a warning.
const expiryWarning = 30 * 24 * time.Hour

// listenerFiles are the server.tls.* settings: the certificate pair the
// listeners serve, and the CA that client certificates must chain to.
type listenerFiles struct {
	cert, key, clientCA string
	clientAuth          tls.ClientAuthType
}

// clientAuthModes maps server.tls.client_auth to crypto/tls: request
// verifies a certificate the client sends; require refuses a connection
// without a valid one.
var clientAuthModes = map[string]tls.ClientAuthType{
	"none":    tls.NoClientCert,
	"request": tls.VerifyClientCertIfGiven,
	"require": tls.RequireAndVerifyClientCert,
}

// listenerTLSFrom reads the server.tls.* options; on is false when they
// leave TLS off. The errors are the options' conflicts.
func listenerTLSFrom(c *config.Config) (f listenerFiles, on bool, errs []error) {
	s := c.Settings
	f = listenerFiles{cert: s.String("server.tls.cert_file"), key: s.String("server.tls.key_file"),
		clientCA: s.String("server.tls.client_ca_file"), clientAuth: clientAuthModes[s.String("server.tls.client_auth")]}
	on = f.cert != "" || f.key != ""
	switch {
	case f.cert != "" && f.key == "":
		errs = append(errs, configErr("server.tls.cert_file is set (%s) but server.tls.key_file is not: give both, the certificate and its private key", c.Source("server.tls.cert_file")))
	case f.key != "" && f.cert == "":
		errs = append(errs, configErr("server.tls.key_file is set (%s) but server.tls.cert_file is not: give both, the certificate and its private key", c.Source("server.tls.key_file")))
	}
	switch mode := s.String("server.tls.client_auth"); {
	case f.clientCA != "" && f.clientAuth == tls.NoClientCert:
		errs = append(errs, configErr("server.tls.client_ca_file is set but server.tls.client_auth is none: set it to request (verify a certificate a client sends) or require (refuse clients without one)"))
	case f.clientCA == "" && f.clientAuth != tls.NoClientCert:
		errs = append(errs, configErr("server.tls.client_auth is %s but server.tls.client_ca_file is not set: give the PEM file of the CA that signs the client certificates", mode))
	case f.clientAuth != tls.NoClientCert && !on:
		errs = append(errs, configErr("server.tls.client_auth is %s but TLS is off: client certificates need server.tls.cert_file and server.tls.key_file", mode))
	}
	return f, on, errs
}

func configErr(format string, args ...any) error {
	return &config.Error{Msg: fmt.Sprintf(format, args...)}
}

// certBundle is one loading of the files: the config handshakes use, the
// certificate's leaf, and the files' stamp (sizes and times) it was read at.
type certBundle struct {
	config *tls.Config
	leaf   *x509.Certificate
	stamp  string
}

// stamp identifies the files' current contents well enough to notice a
// replacement (a rename over them, a rewrite) without reading them.
func (f listenerFiles) stamp() string {
	var b strings.Builder
	for _, p := range []string{f.cert, f.key, f.clientCA} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
		} else {
			fmt.Fprintf(&b, "%s:missing;", p)
		}
	}
	return b.String()
}

// load reads and checks the files: a certificate and key that belong
// together, a certificate still valid at now, a CA file that holds
// certificates. The warnings are a certificate that expires within 30 days
// or is not valid yet.
func (f listenerFiles) load(now time.Time) (*certBundle, []string, error) {
	stamp := f.stamp()
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, nil, pairError(f, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, nil, configErr("server.tls.cert_file %s: %v", f.cert, err)
		}
	}
	var warnings []string
	switch {
	case now.After(leaf.NotAfter):
		return nil, nil, configErr("server.tls.cert_file %s expired on %s: renew it", f.cert, leaf.NotAfter.UTC().Format(time.RFC3339))
	case leaf.NotAfter.Sub(now) < expiryWarning:
		warnings = append(warnings, fmt.Sprintf("server.tls.cert_file %s expires on %s, in %d days: renew it (navius reloads it when the file changes, or on SIGHUP)",
			f.cert, leaf.NotAfter.UTC().Format(time.RFC3339), int(leaf.NotAfter.Sub(now).Hours()/24)))
	case now.Before(leaf.NotBefore):
		warnings = append(warnings, fmt.Sprintf("server.tls.cert_file %s is not valid before %s: clients will refuse it until then", f.cert, leaf.NotBefore.UTC().Format(time.RFC3339)))
	}
	// No session ticket keys here: handshakes then use the listener's
	// outer config's, which outlive reloads (see listenerTLS).
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		NextProtos:   []string{"h2", "http/1.1"},
		ClientAuth:   f.clientAuth,
	}
	if f.clientCA != "" {
		pem, err := os.ReadFile(f.clientCA)
		if err != nil {
			return nil, nil, configErr("server.tls.client_ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, configErr("server.tls.client_ca_file %s holds no PEM certificate", f.clientCA)
		}
		cfg.ClientCAs = pool
	}
	return &certBundle{config: cfg, leaf: leaf, stamp: stamp}, warnings, nil
}

// pairError says what is wrong with the certificate pair, naming the
// option: a key that is not the certificate's is the usual case.
func pairError(f listenerFiles, err error) error {
	var pe *os.PathError
	switch {
	case errors.As(err, &pe) && pe.Path == f.key:
		return configErr("server.tls.key_file: %v", err)
	case errors.As(err, &pe):
		return configErr("server.tls.cert_file: %v", err)
	case strings.Contains(err.Error(), "does not match"):
		return configErr("server.tls.key_file %s is not the private key of server.tls.cert_file %s: give the key the certificate was issued for", f.key, f.cert)
	}
	return configErr("server.tls.cert_file %s and key_file %s: %v", f.cert, f.key, err)
}

// listenerTLS serves the current certificate bundle to every handshake and
// loads it again when its files change or on SIGHUP, without dropping a
// connection: handshakes after a reload get the new certificate, open
// connections keep theirs. Session tickets are the outer config's, so that
// clients resume sessions across reloads.
type listenerTLS struct {
	files   listenerFiles
	current atomic.Pointer[certBundle]
	outer   *tls.Config
	log     *logrus.Logger
	failed  string // the last reload failure logged, so that it is logged once
}

func newListenerTLS(f listenerFiles, b *certBundle) *listenerTLS {
	l := &listenerTLS{files: f}
	l.current.Store(b)
	l.outer = &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return l.current.Load().config, nil
		},
	}
	return l
}

// Config is the config the listeners serve TLS with.
func (l *listenerTLS) Config() *tls.Config { return l.outer }

// Leaf is the certificate served now.
func (l *listenerTLS) Leaf() *x509.Certificate { return l.current.Load().leaf }

// reload loads the files again when they changed (or always, when forced),
// keeping the bundle in use when the new files fail their checks (a
// renewal caught halfway, say); each distinct failure is logged once.
func (l *listenerTLS) reload(force bool) {
	if !force && l.files.stamp() == l.current.Load().stamp {
		return
	}
	b, warnings, err := l.files.load(time.Now())
	if err != nil {
		if msg := err.Error(); msg != l.failed {
			l.failed = msg
			l.log.WithError(err).Warn("TLS: the certificate files changed but do not load; still serving the previous certificate")
		}
		return
	}
	l.failed = ""
	old := l.current.Swap(b)
	for _, w := range warnings {
		l.log.Warn(w)
	}
	l.log.WithFields(logrus.Fields{"not_after": b.leaf.NotAfter.UTC().Format(time.RFC3339), "previous_not_after": old.leaf.NotAfter.UTC().Format(time.RFC3339),
		"subject": b.leaf.Subject.String()}).Info("TLS: certificate reloaded")
}

// watch reloads on SIGHUP and when the files change (checked every
// interval), until ctx ends.
func (l *listenerTLS) watch(ctx context.Context, interval time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	l.watchWith(ctx, interval, hup)
}

// watchWith is watch with the signals coming from hup.
func (l *listenerTLS) watchWith(ctx context.Context, interval time.Duration, hup <-chan os.Signal) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			l.reload(true)
		case <-tick.C:
			l.reload(false)
		}
	}
}

// checkTLS loads the listener's certificate pair and client CA as serve
// will, refusing a key that is not the certificate's, and warns about a
// certificate close to its expiry.
func checkTLS(_ Options, v *Validated) []error {
	f, on, errs := listenerTLSFrom(v.Config)
	if !on || len(errs) > 0 {
		return errs
	}
	b, warnings, err := f.load(time.Now())
	if err != nil {
		return []error{err}
	}
	v.Config.Warnings = append(v.Config.Warnings, warnings...)
	v.tls = newListenerTLS(f, b)
	return nil
}

// certificateIndicator reports the served certificate's expiry in /health:
// UP while it is valid, DOWN once it has expired (not critical: the API
// still answers clients that accept it).
func certificateIndicator(l *listenerTLS) providers.HealthIndicator {
	return providers.HealthIndicator{
		Name: "tls_certificate", Order: 60, ComponentType: "system",
		Check: func(context.Context) providers.HealthResult {
			leaf := l.Leaf()
			left := time.Until(leaf.NotAfter)
			r := providers.HealthResult{Status: providers.StatusUp, ObservedValue: int(left.Hours() / 24), ObservedUnit: "days",
				Details: map[string]any{"subject": leaf.Subject.String(), "issuer": leaf.Issuer.String(),
					"not_after": leaf.NotAfter.UTC().Format(time.RFC3339), "days_left": int(left.Hours() / 24)}}
			if left <= 0 {
				r.Status, r.Error = providers.StatusDown, "the certificate expired on "+leaf.NotAfter.UTC().Format(time.RFC3339)
			}
			return r
		},
	}
}
