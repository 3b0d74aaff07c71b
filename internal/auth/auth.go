// Package auth checks optional bearer tokens with scopes (read, write,
// metrics, admin) on the HTTP API. Tokens are configured in clear or as SHA-256
// hashes; either way only hashes are kept, and every configured hash is
// compared in constant time.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

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

// Options are the auth config options.
var Options = []providers.Option{
	{Key: "auth.tokens", Type: providers.List, Secret: true,
		Description: "API bearer tokens with their scopes (read, write, metrics, admin), comma separated: scope[+scope]:token, e.g. read:r-token,read+write:rw-token,metrics:scraper-token,admin:a-token. Any token turns authentication on."},
	{Key: "auth.token_hashes", Type: providers.List,
		Description: "Like auth.tokens, but each token given as the hex SHA-256 of it (scope[+scope]:sha256hex), so the config holds no secret."},
}

func init() { providers.DeclareOptions("core", Options...) }

type entry struct {
	hash   [sha256.Size]byte
	scopes []Scope
}

// Authenticator holds the configured tokens. A nil *Authenticator means
// authentication is off and allows everything.
type Authenticator struct {
	entries []entry
}

// FromSettings builds the authenticator; it returns nil (auth off) when no
// token is configured.
func FromSettings(s providers.Settings) (*Authenticator, error) {
	a := &Authenticator{}
	for _, spec := range splitList(s.String("auth.tokens")) {
		sc, tok, err := parseEntry(spec, "auth.tokens")
		if err != nil {
			return nil, err
		}
		a.entries = append(a.entries, entry{hash: sha256.Sum256([]byte(tok)), scopes: sc})
	}
	for _, spec := range splitList(s.String("auth.token_hashes")) {
		sc, hx, err := parseEntry(spec, "auth.token_hashes")
		if err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(hx)
		if err != nil || len(b) != sha256.Size {
			// The value is not echoed: it may be a clear token put here by mistake.
			return nil, fmt.Errorf("auth.token_hashes: an entry's value is not a hex SHA-256 (64 hex digits; make one with: printf %%s TOKEN | sha256sum)")
		}
		var e entry
		copy(e.hash[:], b)
		e.scopes = sc
		a.entries = append(a.entries, e)
	}
	if len(a.entries) == 0 {
		return nil, nil
	}
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

// parseEntry splits "read+write:token". Errors never include the token.
func parseEntry(spec, key string) ([]Scope, string, error) {
	names, tok, ok := strings.Cut(spec, ":")
	if !ok || tok == "" {
		return nil, "", fmt.Errorf("%s: an entry is not scope[+scope]:value (e.g. read+write:...)", key)
	}
	var sc []Scope
	for _, n := range strings.Split(names, "+") {
		s := Scope(strings.TrimSpace(n))
		if !slices.Contains(scopes, s) {
			return nil, "", fmt.Errorf("%s: unknown scope %q (use read, write, metrics or admin)", key, n)
		}
		sc = append(sc, s)
	}
	return sc, tok, nil
}

// Result is the outcome of checking a request.
type Result int

const (
	Allowed      Result = iota
	Missing             // no bearer token: 401
	Invalid             // a token that matches none: 401
	Insufficient        // a valid token without the scope: 403
)

// Check tells whether r carries a token granting scope. With auth off every
// request is allowed.
func (a *Authenticator) Check(r *http.Request, scope Scope) Result {
	if a == nil {
		return Allowed
	}
	tok, ok := bearer(r)
	if !ok {
		return Missing
	}
	granted := a.scopesOf(tok)
	switch {
	case granted == nil:
		return Invalid
	case slices.Contains(granted, scope) || slices.Contains(granted, Admin):
		return Allowed
	}
	return Insufficient
}

// Authenticated tells whether r carries any valid token (or auth is off).
func (a *Authenticator) Authenticated(r *http.Request) bool {
	if a == nil {
		return true
	}
	tok, ok := bearer(r)
	return ok && a.scopesOf(tok) != nil
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
