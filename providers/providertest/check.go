package providertest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// Refusals are configurations a provider's check must refuse: URL with
// Settings, and the words Want its error must hold.
type Refusals []struct {
	URL      string
	Settings providers.Settings
	Want     string
}

// CheckRefuses runs check on each refusal's DatabaseConfig (its TLS read
// from the settings, as configuration does): the error must wrap
// providers.ErrInvalid, hold Want, and never show secret (the password the
// URLs carry).
func CheckRefuses(t *testing.T, check func(providers.DatabaseConfig) error, secret string, cases Refusals) {
	t.Helper()
	for _, c := range cases {
		cfg := providers.DatabaseConfig{URL: c.URL, Settings: c.Settings, TLS: providers.TLSFromSettings(c.Settings, "database")}
		err := check(cfg)
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.Want) {
			t.Errorf("%s %v: %v, want %q", c.URL, c.Settings, err, c.Want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the password: %v", c.URL, err)
		}
	}
}

// RoundTrip writes a value through a database just opened, reads it back
// and closes the database, and returns the first error; a different value
// read back fails t. Tests of how a provider connects (TLS, authentication)
// use it.
func RoundTrip(t *testing.T, db providers.Database) error {
	t.Helper()
	defer db.Close()
	ctx := context.Background()
	if err := db.Set(ctx, "c", "k", []byte("round trip")); err != nil {
		return err
	}
	v, err := db.Get(ctx, "c", "k")
	if err == nil && string(v) != "round trip" {
		t.Fatalf("read back %q, want %q", v, "round trip")
	}
	return err
}

// Settings are the declared defaults of options (each Option's Default)
// with kv (key, value, key, value, ...) set over them: what a provider's
// own tests open it with.
func Settings(options []providers.Option, kv ...string) providers.Settings {
	s := providers.Settings{}
	for _, o := range options {
		s[o.Key] = o.DefaultValue()
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

// WalkKeys reads coll page by page with q, from q.Cursor on, and returns
// how many times each key came back. It calls onPage, when not nil, with
// each page and its number (from 0) before it reads the next: for checks
// of the page, or writes between pages. A walk of more than maxPages pages
// fails t.
func WalkKeys(t testing.TB, db providers.Database, coll string, q providers.Query, maxPages int, onPage func(n int, p providers.Page)) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for n := 0; ; n++ {
		if n == maxPages {
			t.Fatalf("the walk of %s does not end: more than %d pages", coll, maxPages)
		}
		p, err := db.Query(context.Background(), coll, q)
		if err != nil {
			t.Fatalf("Query %s, page %d: %v", coll, n, err)
		}
		for _, it := range p.Items {
			seen[it.Key]++
		}
		if onPage != nil {
			onPage(n, p)
		}
		if q.Cursor = p.NextCursor; q.Cursor == "" {
			return seen
		}
	}
}

// CheckTimeoutsRefuseZero checks that each of keys among a provider's
// declared options refuses 0 and negative durations (a client library
// often reads 0 as no limit, or as its own default) and takes 1ms: a
// Duration option declared with a Min.
func CheckTimeoutsRefuseZero(t *testing.T, opts []providers.Option, keys ...string) {
	t.Helper()
	for _, key := range keys {
		i := slices.IndexFunc(opts, func(o providers.Option) bool { return o.Key == key })
		if i < 0 {
			t.Fatalf("no option %s", key)
		}
		o := opts[i]
		for _, v := range []string{"0", "0s", "-1s"} {
			if o.Check(v) == nil {
				t.Errorf("%s=%s accepted: declare the option with a Min (e.g. 1ms)", key, v)
			}
		}
		if err := o.Check("1ms"); err != nil {
			t.Errorf("%s=1ms: %v", key, err)
		}
	}
}
