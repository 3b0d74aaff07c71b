package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/tlstest"
)

const tlsAdminToken = "tls-admin-token-0123456789"

// tlsServer is a navius serving TLS, and what its clients need.
type tlsServer struct {
	*proc
	base string // https://127.0.0.1:port
	pool *x509.CertPool
	ca   *tlstest.CA
}

func startTLS(t *testing.T, ca *tlstest.CA, pair tlstest.Pair, env ...string) *tlsServer {
	t.Helper()
	bin, _ := binary(t, "memory,prometheus,pprof")
	env = append([]string{
		"NAVIUS_SERVER_TLS_CERT_FILE=" + pair.CertFile, "NAVIUS_SERVER_TLS_KEY_FILE=" + pair.KeyFile,
		"NAVIUS_PPROF_LISTEN=127.0.0.1:0", "NAVIUS_AUTH_TOKENS=admin:" + tlsAdminToken,
	}, env...)
	p := serve(t, bin, t.TempDir(), env)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tlsServer{proc: p, base: strings.Replace(p.URL, "http://", "https://", 1), pool: pool, ca: ca}
}

// client trusts the test CA and presents cert when given.
func (s *tlsServer) client(cert *tlstest.Pair) *http.Client {
	cfg := &tls.Config{RootCAs: s.pool}
	if cert != nil {
		c, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			panic(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
}

func (s *tlsServer) send(t *testing.T, c *http.Client, method, path, body, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// servedSubject is the common name of the certificate a new handshake gets.
func (s *tlsServer) servedSubject(t *testing.T) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.base, "https://"), &tls.Config{RootCAs: s.pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestTLSListener: the API and the pprof listener speak TLS 1.2+ with
// HTTP/2; a verified client certificate stands for the scopes its name is
// given; /health shows the certificate's expiry; a plain HTTP request is
// refused.
func TestTLSListener(t *testing.T) {
	ca := tlstest.NewCA(t, "navius e2e CA")
	pair := ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "navius-first"})
	billing := ca.Issue(t, "billing.pem", tlstest.Leaf{CommonName: "billing.internal", Client: true})
	stranger := ca.Issue(t, "stranger.pem", tlstest.Leaf{CommonName: "stranger", Client: true})
	s := startTLS(t, ca, pair, "NAVIUS_SERVER_TLS_CLIENT_CA_FILE="+ca.File, "NAVIUS_SERVER_TLS_CLIENT_AUTH=request",
		"NAVIUS_AUTH_CLIENT_CERT_SCOPES=read+write:billing.internal")
	anon := s.client(nil)

	resp, body := s.send(t, anon, "GET", "/readyz", "", "")
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /readyz: %d %s %x %s", resp.StatusCode, resp.Proto, resp.TLS.Version, body)
	}
	// The client certificate's scopes, and nothing for an unmapped one.
	if resp, body := s.send(t, s.client(&billing), "PUT", "/api/v1/c/k", "v", ""); resp.StatusCode != 204 {
		t.Errorf("PUT with the billing certificate: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.send(t, s.client(&billing), "GET", "/info", "", ""); resp.StatusCode != 403 {
		t.Errorf("GET /info with the billing certificate: %d, want 403", resp.StatusCode)
	}
	for name, c := range map[string]*http.Client{"no certificate": anon, "an unmapped certificate": s.client(&stranger)} {
		if resp, _ := s.send(t, c, "GET", "/api/v1/c/k", "", ""); resp.StatusCode != 401 {
			t.Errorf("GET with %s: %d, want 401", name, resp.StatusCode)
		}
	}
	// /health shows the certificate's expiry to an authorized caller.
	_, body = s.send(t, anon, "GET", "/health", "", tlsAdminToken)
	var h struct {
		Components map[string]struct {
			Status  string
			Details map[string]any
		}
	}
	json.Unmarshal([]byte(body), &h)
	if c := h.Components["tls_certificate"]; c.Status != "UP" || c.Details["not_after"] != pair.Cert.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("/health tls_certificate = %+v", c)
	}
	// Plain HTTP on the TLS port is refused.
	plain, err := http.Get(s.URL + "/readyz")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode != 400 {
			t.Errorf("plain HTTP: %d %s", plain.StatusCode, b)
		}
	}
	// The front door's small things, over TLS.
	if resp, body := s.send(t, anon, "POST", "/metrics", "", tlsAdminToken); resp.StatusCode != 405 || !strings.Contains(body, `"method_not_allowed"`) {
		t.Errorf("POST /metrics: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.send(t, anon, "GET", "/api/v1/pets/../../etc/passwd", "", tlsAdminToken); resp.StatusCode != 400 || !strings.Contains(body, `"invalid_path"`) {
		t.Errorf("a traversal path: %d %s", resp.StatusCode, body)
	}
	// pprof serves the same certificate.
	m := regexp.MustCompile(`admin listener serving /debug/pprof/ on (127\.0\.0\.1:\d+) over TLS`).FindStringSubmatch(s.Logs())
	if m == nil {
		t.Fatalf("no TLS admin listener in the log:\n%s", s.Logs())
	}
	req, _ := http.NewRequest("GET", "https://"+m[1]+"/debug/pprof/", nil)
	req.Header.Set("Authorization", "Bearer "+tlsAdminToken)
	if resp, err := anon.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("pprof over TLS: %v %v", resp, err)
	}
}

// TestTLSRequireClientCertificates: with client_auth require, a client
// without a valid certificate does not get through the handshake.
func TestTLSRequireClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, "navius e2e CA")
	pair := ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "navius"})
	ops := ca.Issue(t, "ops.pem", tlstest.Leaf{CommonName: "ops", Client: true})
	other := tlstest.NewCA(t, "navius e2e CA")
	forged := other.Issue(t, "forged.pem", tlstest.Leaf{CommonName: "ops", Client: true})
	s := startTLS(t, ca, pair, "NAVIUS_SERVER_TLS_CLIENT_CA_FILE="+ca.File, "NAVIUS_SERVER_TLS_CLIENT_AUTH=require",
		"NAVIUS_AUTH_CLIENT_CERT_SCOPES=admin:ops")
	if resp, body := s.send(t, s.client(&ops), "GET", "/info", "", ""); resp.StatusCode != 200 {
		t.Errorf("GET /info with the ops certificate: %d %s", resp.StatusCode, body)
	}
	for name, c := range map[string]*http.Client{"no certificate": s.client(nil), "another CA's": s.client(&forged)} {
		if _, err := c.Get(s.base + "/livez"); err == nil {
			t.Errorf("%s: the handshake succeeded", name)
		}
	}
}

// TestTLSReload: a renewed certificate is served without a restart, when
// its files change and on SIGHUP, connections open across the reload keep
// working, and clients resume their sessions across it (TLS 1.3 and 1.2:
// the session ticket keys are kept).
func TestTLSReload(t *testing.T) {
	ca := tlstest.NewCA(t, "navius e2e CA")
	pair := ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "first"})
	s := startTLS(t, ca, pair, "NAVIUS_SERVER_TLS_RELOAD_INTERVAL=50ms")
	c := s.client(nil)
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	get := func() int {
		req, _ := http.NewRequest("GET", s.base+"/livez", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get()
	waitSubject := func(want string) {
		deadline := time.Now().Add(20 * time.Second)
		for s.servedSubject(t) != want {
			if time.Now().After(deadline) {
				t.Fatalf("still serving %q, want %q\n%s", s.servedSubject(t), want, s.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ca.Issue(t, "server.pem", tlstest.Leaf{CommonName: "second"}) // renamed over the files
	waitSubject("second")
	if code := get(); code != 200 || !reused {
		t.Errorf("the connection opened before the reload: %d, reused %v", code, reused)
	}
	if !strings.Contains(s.Logs(), "TLS: certificate reloaded") {
		t.Errorf("the reload is not logged:\n%s", s.Logs())
	}
	s.Stop(t)

	// SIGHUP, with a check interval that never comes.
	s = startTLS(t, ca, ca.Issue(t, "hup.pem", tlstest.Leaf{CommonName: "before-hup"}), "NAVIUS_SERVER_TLS_RELOAD_INTERVAL=1h")
	ca.Issue(t, "hup.pem", tlstest.Leaf{CommonName: "after-hup"})
	if s.servedSubject(t) != "before-hup" {
		t.Fatal("reloaded without a signal")
	}
	// Clients that keep sessions (TLS 1.3 and 1.2), to resume across the
	// reload.
	caches := map[uint16]tls.ClientSessionCache{tls.VersionTLS13: tls.NewLRUClientSessionCache(4), tls.VersionTLS12: tls.NewLRUClientSessionCache(4)}
	for v, cache := range caches {
		if s.resumes(t, v, cache) {
			t.Fatalf("%s: the first connection resumed", tls.VersionName(v))
		}
		if !s.resumes(t, v, cache) {
			t.Fatalf("%s: no resumption even before a reload", tls.VersionName(v))
		}
	}
	s.Cmd.Process.Signal(syscall.SIGHUP)
	waitSubject("after-hup")
	// The session tickets survive the reload: the clients resume.
	for v, cache := range caches {
		if !s.resumes(t, v, cache) {
			t.Errorf("%s: the session was not resumed after the reload", tls.VersionName(v))
		}
	}
}

// resumes makes a new connection at TLS version v with the session cache,
// sends a request and reads the answer (which brings TLS 1.3's session
// ticket along), and reports whether the handshake resumed a session.
func (s *tlsServer) resumes(t *testing.T, v uint16, cache tls.ClientSessionCache) bool {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.base, "https://"), &tls.Config{RootCAs: s.pool, ServerName: "localhost",
		MinVersion: v, MaxVersion: v, ClientSessionCache: cache, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(conn); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("GET /livez over %s: %v %q", tls.VersionName(v), err, b)
	}
	return conn.ConnectionState().DidResume
}
