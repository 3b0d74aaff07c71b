package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
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
		"auth.tokens":       "read:r-tok, read+write:rw-tok",
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
		{"r-tok", Read, Allowed},
		{"r-tok", Write, Insufficient},
		{"r-tok", Admin, Insufficient},
		{"rw-tok", Write, Allowed},
		{"rw-tok", Admin, Insufficient},
		{"hashed-admin", Write, Allowed},
		{"hashed-admin", Admin, Allowed},
		{"r-tok ", Read, Allowed}, // trailing space trimmed
	}
	for _, c := range cases {
		if got := a.Check(req(c.token), c.scope); got != c.want {
			t.Errorf("token %q scope %s = %v, want %v", c.token, c.scope, got, c.want)
		}
	}
	basic := httptest.NewRequest("GET", "/", nil)
	basic.SetBasicAuth("u", "r-tok")
	if got := a.Check(basic, Read); got != Missing {
		t.Errorf("basic auth = %v, want Missing", got)
	}
	if !a.Authenticated(req("r-tok")) || a.Authenticated(req("bad")) || a.Authenticated(req("")) {
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
		{"auth.tokens": "superuser:s3cret-token"},
		{"auth.tokens": "s3cret-token"},
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
