// Package auth checks optional bearer tokens with scopes (read, write,
// metrics, admin) on the HTTP API. Tokens are configured in clear or as SHA-256
// hashes; either way only hashes are kept, and every configured hash is
// compared in constant time. A verified client certificate (mutual TLS) can
// stand for scopes too, by its name (auth.client_cert_scopes).
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/navius-dev/navius/providers"
)

// Scope is a permission a token grants.
type Scope string

const (
	Read    Scope = "read"    // GET and query the API
	Write   Scope = "write"   // PUT and DELETE
	Metrics Scope = "metrics" // scrape /metrics, and nothing else (a Prometheus scraper's token)
	Admin   Scope = "admin"   // everything, plus /info, /health details, pprof
	Build   Scope = "build"   // start builds on navius builder serve (no API access)
)

var scopes = []Scope{Read, Write, Metrics, Admin, Build}

// MinTokenLength is the shortest token accepted: 16 characters, e.g. the
// 32 hex digits of openssl rand -hex 16.
const MinTokenLength = 16

// Options are the auth config options.
var Options = []providers.Option{
	{Key: "auth.tokens", Type: providers.List, Secret: true,
		Description: "API bearer tokens with their scopes (read, write, metrics, admin), comma separated: scope[+scope]:token, e.g. read:r-token,read+write:rw-token,metrics:scraper-token,admin:a-token. Each token at least 16 characters, without whitespace, listed once. Any token turns authentication on."},
	{Key: "auth.token_hashes", Type: providers.List,
		Description: "Like auth.tokens, but each token given as the hex SHA-256 of it (scope[+scope]:sha256hex), so the config holds no secret."},
	{Key: "auth.client_cert_scopes", Type: providers.List,
		Description: "Scopes of verified client certificates (mutual TLS, server.tls.client_auth), comma separated: scope[+scope]:NAME, where NAME is the certificate's subject common name or one of its DNS, URI or email names, e.g. metrics:prometheus.internal,read+write:spiffe://example.org/billing. A certificate counts like a token of those scopes; any entry turns authentication on."},
}

func init() { providers.DeclareOptions("core", Options...) }

type entry struct {
	hash   [sha256.Size]byte
	scopes []Scope
	where  string // "auth.tokens entry 2", for messages
}

// certEntry maps a client certificate's name to scopes.
type certEntry struct {
	name   string
	scopes []Scope
}

// Authenticator holds the configured tokens and client certificate names.
// A nil *Authenticator means authentication is off and allows everything.
type Authenticator struct {
	entries  []entry
	certs    []certEntry
	throttle *Throttle
}

// FromSettings builds the authenticator; it returns nil (auth off) when no
// token and no client certificate name is configured. It refuses a token
// that could never match (whitespace in it or in its scopes), one shorter
// than MinTokenLength, and a token listed twice, naming both entries;
// errors never show a token.
func FromSettings(s providers.Settings) (*Authenticator, error) {
	a := &Authenticator{}
	for i, spec := range splitList(s.String("auth.tokens")) {
		where := fmt.Sprintf("auth.tokens entry %d", i+1)
		sc, tok, err := parseEntry(spec, where)
		if err != nil {
			return nil, err
		}
		if n := len([]rune(tok)); n < MinTokenLength {
			return nil, fmt.Errorf("%s: the token has %d characters; use at least %d (e.g. openssl rand -hex 16)", where, n, MinTokenLength)
		}
		a.entries = append(a.entries, entry{hash: sha256.Sum256([]byte(tok)), scopes: sc, where: where})
	}
	for i, spec := range splitList(s.String("auth.token_hashes")) {
		where := fmt.Sprintf("auth.token_hashes entry %d", i+1)
		sc, hx, err := parseEntry(spec, where)
		if err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(hx)
		if err != nil || len(b) != sha256.Size {
			// The value is not echoed: it may be a clear token put here by mistake.
			return nil, fmt.Errorf("%s: the value is not a hex SHA-256 (64 hex digits; make one with: printf %%s TOKEN | sha256sum)", where)
		}
		e := entry{scopes: sc, where: where}
		copy(e.hash[:], b)
		a.entries = append(a.entries, e)
	}
	for i, e := range a.entries {
		for _, prev := range a.entries[:i] {
			if prev.hash == e.hash {
				return nil, fmt.Errorf("%s holds the same token as %s: list each token once, with all its scopes (read+write:...)", e.where, prev.where)
			}
		}
	}
	for i, spec := range splitList(s.String("auth.client_cert_scopes")) {
		where := fmt.Sprintf("auth.client_cert_scopes entry %d", i+1)
		sc, name, err := parseEntry(spec, where)
		if err != nil {
			return nil, err
		}
		for _, prev := range a.certs {
			if prev.name == name {
				return nil, fmt.Errorf("%s names %q again: list each certificate name once, with all its scopes", where, name)
			}
		}
		a.certs = append(a.certs, certEntry{name: name, scopes: sc})
	}
	if len(a.entries) == 0 && len(a.certs) == 0 {
		return nil, nil
	}
	a.throttle = NewThrottle(s.Int("auth.max_failures"), s.Duration("auth.max_lockout"))
	return a, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseEntry splits "read+write:value". Errors never include the value.
func parseEntry(spec, where string) ([]Scope, string, error) {
	names, value, ok := strings.Cut(spec, ":")
	if !ok || value == "" {
		return nil, "", fmt.Errorf("%s is not scope[+scope]:value (e.g. read+write:...)", where)
	}
	if strings.IndexFunc(value, unicode.IsSpace) >= 0 {
		return nil, "", fmt.Errorf("%s: the value after the scopes holds whitespace, so no request could ever send it: remove it (scope:value, no spaces)", where)
	}
	var sc []Scope
	for _, n := range strings.Split(names, "+") {
		s := Scope(n)
		if !slices.Contains(scopes, s) {
			return nil, "", fmt.Errorf("%s: unknown scope %q (use read, write, metrics, admin or build, without spaces)", where, n)
		}
		sc = append(sc, s)
	}
	return sc, value, nil
}

// Result is the outcome of checking a request.
type Result int

const (
	Allowed      Result = iota
	Missing             // no bearer token: 401
	Invalid             // a token that matches none: 401
	Insufficient        // a valid token without the scope: 403
)

// Check tells whether r carries a token, or a verified client certificate,
// granting scope. With auth off every request is allowed. A token that
// matches none is refused even beside a certificate.
func (a *Authenticator) Check(r *http.Request, scope Scope) Result {
	if a == nil {
		return Allowed
	}
	granted, res := a.scopes(r)
	switch {
	case res != Allowed:
		return res
	case slices.Contains(granted, scope) || slices.Contains(granted, Admin):
		return Allowed
	}
	return Insufficient
}

// Authenticated tells whether r carries a valid token or a client
// certificate with scopes (or auth is off). It answers what /health shows,
// so it counts as a guess too: an invalid token is a failure for the
// throttle, and a throttled client is not authenticated.
func (a *Authenticator) Authenticated(r *http.Request) bool {
	if a == nil {
		return true
	}
	if a.throttle.Wait(r) > 0 {
		return false
	}
	_, res := a.scopes(r)
	a.Record(r, res)
	return res == Allowed
}

// Throttle is the failed-authentication throttle (auth.max_failures); nil
// when it is off.
func (a *Authenticator) Throttle() *Throttle {
	if a == nil {
		return nil
	}
	return a.throttle
}

// Record tells the throttle a check's outcome: a token that matches none
// is a failure, a valid one (of whatever scope) a success; no token at all
// says nothing here (callers that require one count it with
// Throttle().Failed).
func (a *Authenticator) Record(r *http.Request, res Result) {
	switch res {
	case Allowed, Insufficient:
		a.throttle.Succeeded(r)
	case Invalid:
		a.throttle.Failed(r)
	}
}

// scopes are what r's token and client certificate grant together;
// Allowed when r brings at least one of them and its token (if any) is
// valid.
func (a *Authenticator) scopes(r *http.Request) ([]Scope, Result) {
	var granted []Scope
	tok, hasToken := bearer(r)
	if hasToken {
		if granted = a.scopesOf(tok); granted == nil {
			return nil, Invalid
		}
	}
	cert := a.certScopes(r)
	if !hasToken && cert == nil {
		return nil, Missing
	}
	return append(slices.Clip(granted), cert...), Allowed
}

// certScopes are the scopes of r's client certificate, when the TLS
// handshake verified it against server.tls.client_ca_file and one of its
// names is mapped: the subject common name, a DNS, URI or email name.
func (a *Authenticator) certScopes(r *http.Request) []Scope {
	if len(a.certs) == 0 || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	names := append([]string{leaf.Subject.CommonName}, leaf.DNSNames...)
	names = append(names, leaf.EmailAddresses...)
	for _, u := range leaf.URIs {
		names = append(names, u.String())
	}
	var out []Scope
	for _, c := range a.certs {
		if slices.Contains(names, c.name) {
			out = append(out, c.scopes...)
		}
	}
	return out
}

// scopesOf compares the token's hash with every entry, without stopping at
// a match, so timing says nothing about which entry matched or how much of it.
func (a *Authenticator) scopesOf(tok string) []Scope {
	h := sha256.Sum256([]byte(tok))
	var found []Scope
	for _, e := range a.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found = e.scopes
		}
	}
	return found
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Challenge is the WWW-Authenticate header for a refusal (RFC 6750).
func Challenge(res Result, scope Scope) string {
	switch res {
	case Invalid:
		return `Bearer realm="navius", error="invalid_token", error_description="the token is not valid"`
	case Insufficient:
		return fmt.Sprintf(`Bearer realm="navius", error="insufficient_scope", scope="%s"`, scope)
	}
	return `Bearer realm="navius"`
}
