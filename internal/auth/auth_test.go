package auth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func req(token string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func TestScopes(t *testing.T) {
	h := sha256.Sum256([]byte("hashed-admin"))
	a, err := FromSettings(providers.Settings{
		"auth.tokens":       "read:r-tok-0123456789abcdef, read+write:rw-tok-0123456789abcdef",
		"auth.token_hashes": "admin:" + hex.EncodeToString(h[:]),
	})
	if err != nil || a == nil {
		t.Fatal(a, err)
	}
	cases := []struct {
		token string
		scope Scope
		want  Result
	}{
		{"", Read, Missing},
		{"nope", Read, Invalid},
		{"r-tok-0123456789abcdef", Read, Allowed},
		{"r-tok-0123456789abcdef", Write, Insufficient},
		{"r-tok-0123456789abcdef", Admin, Insufficient},
		{"rw-tok-0123456789abcdef", Write, Allowed},
		{"rw-tok-0123456789abcdef", Admin, Insufficient},
		{"hashed-admin", Write, Allowed},
		{"hashed-admin", Admin, Allowed},
		{"r-tok-0123456789abcdef ", Read, Allowed}, // trailing space trimmed
	}
	for _, c := range cases {
		if got := a.Check(req(c.token), c.scope); got != c.want {
			t.Errorf("token %q scope %s = %v, want %v", c.token, c.scope, got, c.want)
		}
	}
	basic := httptest.NewRequest("GET", "/", nil)
	basic.SetBasicAuth("u", "r-tok-0123456789abcdef")
	if got := a.Check(basic, Read); got != Missing {
		t.Errorf("basic auth = %v, want Missing", got)
	}
	if !a.Authenticated(req("r-tok-0123456789abcdef")) || a.Authenticated(req("bad")) || a.Authenticated(req("")) {
		t.Error("Authenticated")
	}
	if !strings.Contains(Challenge(Insufficient, Write), `error="insufficient_scope", scope="write"`) {
		t.Error(Challenge(Insufficient, Write))
	}
}

func TestOff(t *testing.T) {
	a, err := FromSettings(providers.Settings{})
	if err != nil || a != nil {
		t.Fatalf("no tokens: %v, %v", a, err)
	}
	if a.Check(req(""), Admin) != Allowed || !a.Authenticated(req("")) {
		t.Fatal("auth off must allow everything")
	}
}

func TestConfigErrorsHideTokens(t *testing.T) {
	for _, bad := range []providers.Settings{
		{"auth.tokens": "superuser:s3cret-token-0123456789"},
		{"auth.tokens": "s3cret-token-0123456789"},
		{"auth.token_hashes": "read:s3cret-token"},
	} {
		_, err := FromSettings(bad)
		if err == nil {
			t.Errorf("%v accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the token: %v", err)
		}
	}
}

// TestTokensAreChecked: a token that could never match, a short one and one
// listed twice are refused, naming the entries but never the token.
func TestTokensAreChecked(t *testing.T) {
	long := "s3cret-0123456789abcdef"
	h := sha256.Sum256([]byte(long))
	cases := []struct {
		settings providers.Settings
		want     string
	}{
		{providers.Settings{"auth.tokens": "read: " + long}, "auth.tokens entry 1: the value after the scopes holds whitespace"},
		{providers.Settings{"auth.tokens": "read :" + long}, `auth.tokens entry 1: unknown scope "read "`},
		{providers.Settings{"auth.tokens": "read+ write:" + long}, `unknown scope " write"`},
		{providers.Settings{"auth.tokens": "read:s3cret"}, "auth.tokens entry 1: the token has 6 characters; use at least 16"},
		{providers.Settings{"auth.tokens": "read:" + long + ",write:" + long}, "auth.tokens entry 2 holds the same token as auth.tokens entry 1"},
		{providers.Settings{"auth.tokens": "read:other-token-0123456789," + "read:" + long, "auth.token_hashes": "admin:" + hex.EncodeToString(h[:])},
			"auth.token_hashes entry 1 holds the same token as auth.tokens entry 2"},
		{providers.Settings{"auth.client_cert_scopes": "read:svc,write:svc"}, `auth.client_cert_scopes entry 2 names "svc" again`},
	}
	for _, c := range cases {
		_, err := FromSettings(c.settings)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.settings, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
}

// TestClientCertificateScopes: a verified certificate's name stands for
// its scopes, alone or with a token; an unverified one counts for nothing.
func TestClientCertificateScopes(t *testing.T) {
	a, err := FromSettings(providers.Settings{
		"auth.tokens":             "write:writer-token-0123456789",
		"auth.client_cert_scopes": "read:billing.internal,metrics:spiffe://example.org/prom",
	})
	if err != nil {
		t.Fatal(err)
	}
	withCert := func(token string, verified bool, cert *x509.Certificate) *http.Request {
		r := req(token)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		if verified {
			r.TLS.VerifiedChains = [][]*x509.Certificate{{cert}}
		}
		return r
	}
	billing := &x509.Certificate{Subject: pkix.Name{CommonName: "billing.internal"}}
	spiffe, _ := url.Parse("spiffe://example.org/prom")
	prom := &x509.Certificate{Subject: pkix.Name{CommonName: "x"}, URIs: []*url.URL{spiffe}}
	other := &x509.Certificate{Subject: pkix.Name{CommonName: "someone"}, DNSNames: []string{"elsewhere"}}
	cases := []struct {
		r     *http.Request
		scope Scope
		want  Result
	}{
		{withCert("", true, billing), Read, Allowed},
		{withCert("", true, billing), Write, Insufficient},
		{withCert("", false, billing), Read, Missing}, // not verified: no scopes
		{withCert("", true, prom), Metrics, Allowed},
		{withCert("", true, other), Read, Missing},
		{withCert("writer-token-0123456789", true, billing), Write, Allowed}, // the two together
		{withCert("writer-token-0123456789", true, billing), Read, Allowed},
		{withCert("bad-token-0123456789", true, billing), Read, Invalid}, // a bad token is refused
	}
	for i, c := range cases {
		if got := a.Check(c.r, c.scope); got != c.want {
			t.Errorf("case %d: scope %s = %v, want %v", i, c.scope, got, c.want)
		}
	}
	if !a.Authenticated(withCert("", true, billing)) || a.Authenticated(withCert("", true, other)) {
		t.Error("Authenticated with a certificate")
	}
}
