package providers

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry[string, string]("database")
	open := func(name string) func(context.Context, string) (string, error) {
		return func(_ context.Context, cfg string) (string, error) { return name + ":" + cfg, nil }
	}
	r.Register("memory", []string{"memory"}, open("memory"))
	r.Register("bolt", []string{"bolt"}, open("bolt"))
	if got := r.Names(); strings.Join(got, ",") != "bolt,memory" {
		t.Fatalf("Names = %v", got)
	}
	v, name, err := r.Open(context.Background(), "", "BOLT:///x.db", "cfg")
	if err != nil || name != "bolt" || v != "bolt:cfg" {
		t.Fatalf("Open by scheme = %q %q %v", v, name, err)
	}
	if _, name, _ = r.Open(context.Background(), "memory", "bolt:///x", "c"); name != "memory" {
		t.Fatalf("an explicit name did not win over the scheme: %q", name)
	}
	_, _, err = r.Open(context.Background(), "", "redis://localhost:6379/0", "")
	var np *NoProviderError
	if !errors.As(err, &np) || err.Error() != `database: no provider for scheme "redis" (compiled in: bolt, memory)` {
		t.Fatalf("missing scheme: %v", err)
	}
	if _, err := r.Resolve("nope", ""); err == nil || !strings.Contains(err.Error(), `no provider for name "nope"`) {
		t.Fatalf("missing name: %v", err)
	}
	for _, bad := range []string{"", "no-scheme", "://x"} {
		if _, err := r.Resolve("", bad); err == nil {
			t.Errorf("Resolve(%q) succeeded", bad)
		}
	}
	mustPanic(t, "duplicate name", func() { r.Register("bolt", nil, open("x")) })
	mustPanic(t, "duplicate scheme", func() { r.Register("other", []string{"memory"}, open("x")) })
	mustPanic(t, "nil opener", func() { r.Register("nil", nil, nil) })
}

// TestRegistryChecks: a provider's check runs in Check and before its
// opener in Open, which then opens nothing; a provider without one is
// listed as unchecked.
func TestRegistryChecks(t *testing.T) {
	r := NewRegistry[string, string]("database")
	opened := 0
	open := func(_ context.Context, cfg string) (string, error) { opened++; return cfg, nil }
	refuse := func(cfg string) error {
		if cfg == "bad" {
			return Invalid("the check refuses %q", cfg)
		}
		return nil
	}
	r.Register("checked", []string{"checked"}, open, refuse)
	r.Register("legacy", []string{"legacy"}, open)
	if name, err := r.Check("", "checked://x", "bad"); name != "checked" || !errors.Is(err, ErrInvalid) {
		t.Errorf("Check = %q, %v", name, err)
	}
	if _, err := r.Check("", "checked://x", "good"); err != nil {
		t.Errorf("Check of a good config: %v", err)
	}
	if _, _, err := r.Open(context.Background(), "", "checked://x", "bad"); !errors.Is(err, ErrInvalid) || opened != 0 {
		t.Errorf("Open after a failed check: %v, opened %d times", err, opened)
	}
	if _, _, err := r.Open(context.Background(), "", "checked://x", "good"); err != nil || opened != 1 {
		t.Errorf("Open after a passed check: %v, opened %d times", err, opened)
	}
	if _, err := r.Check("", "legacy://x", "bad"); err != nil {
		t.Errorf("a provider without a check was refused: %v", err)
	}
	if got := r.Unchecked(); len(got) != 1 || got[0] != "legacy" {
		t.Errorf("Unchecked = %v", got)
	}
	mustPanic(t, "nil check", func() { r.Register("nilcheck", nil, open, nil) })
	mustPanic(t, "two checks", func() { r.Register("two", nil, open, refuse, refuse) })
}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	fn()
}

func TestRedact(t *testing.T) {
	cases := map[string]string{
		"redis://user:s3cret@host:6379/0": "redis://user:xxxxx@host:6379/0",
		"rediss://:s3cret@host":           "rediss://:xxxxx@host",
		"memory://":                       "memory://",
		"redis://u:s3cret@ho st%zz":       "redis://u:xxxxx@ho st%zz",
		// Values that do not parse, or parse as something else.
		"postgres//navius:s3cret@127.0.0.1/navius": "postgres//navius:xxxxx@127.0.0.1/navius",
		"redis//:s3cret@host:6379":                 "redis//:xxxxx@host:6379",
		"redis+cluster://:s3cret@a:1,b:2":          "redis+cluster://:xxxxx@a:1,b:2",
		"u:s3cret@host":                            "u:xxxxx@host",
		"https://u:s3c@ret@host/x":                 "https://u:xxxxx@host/x",
		"bolt:///data/x@y.db":                      "bolt:///data/x@y.db",
		// libpq's keyword form.
		"host=db user=navius password=s3cret dbname=x":   "host=db user=navius password=xxxxx dbname=x",
		"host=db password = 's3cret with spaces' port=1": "host=db password=xxxxx port=1",
		"host=db sslpassword='s3cret\\' x' sslmode=y":    "host=db sslpassword=xxxxx sslmode=y",
		"password=s3cret": "password=xxxxx",
		// libpq takes the password as a parameter too.
		"postgres://u@h/db?sslmode=disable&password=s3cret&x=1": "postgres://u@h/db?sslmode=disable&password=xxxxx&x=1",
		"postgres://u:s3cret@h/db?PASSWORD=s3cret#f":            "postgres://u:xxxxx@h/db?PASSWORD=xxxxx#f",
		"postgres://u@h:bad/db?sslpassword=s3cret":              "postgres://u@h:bad/db?sslpassword=xxxxx",
		"postgres://u@h/db?application_name=password":           "postgres://u@h/db?application_name=password",
	}
	for in, want := range cases {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(Redact(in), "s3cret") {
			t.Errorf("Redact(%q) leaks the password", in)
		}
	}
	if _, err := Scheme("redis://u:s3cret@ho st%zz"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Scheme error leaks or is nil: %v", err)
	}
}

func TestParsers(t *testing.T) {
	sizes := map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "64MiB": 64 << 20, "1GB": 1e9, "1.5k": 1536, "2 MB": 2e6, "0": 0}
	for in, want := range sizes {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "12XB", "1e999"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
	if d, err := ParseDuration("1m30s"); err != nil || d != 90*time.Second {
		t.Errorf("ParseDuration = %v, %v", d, err)
	}
	for _, bad := range []string{"5", "-1s", "soon"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]bool{"yes": true, "ON": true, "0": false, "false": false} {
		if got, err := ParseBool(in); err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v", in, got, err)
		}
	}
}

func TestOptionNames(t *testing.T) {
	o := Option{Key: "database.tls.ca_file"}
	if o.EnvName() != "NAVIUS_DATABASE_TLS_CA_FILE" || o.FlagName() != "database-tls-ca-file" {
		t.Fatalf("env %q flag %q", o.EnvName(), o.FlagName())
	}
	if (Option{Key: "x", Env: "CUSTOM"}).EnvName() != "CUSTOM" {
		t.Fatal("Env override ignored")
	}
	e := Option{Key: "e", Type: Enum, Enum: []string{"a", "b"}}
	if e.Check("a") != nil || e.Check("c") == nil {
		t.Fatal("enum check")
	}
	mustPanic(t, "bad default", func() { DeclareOptions("t", Option{Key: "t.bad", Type: Int, Default: "x"}) })
	DeclareOptions("t", Option{Key: "t.ok", Type: Int, Default: "3"})
	mustPanic(t, "duplicate option", func() { DeclareOptions("u", Option{Key: "t.ok", Type: Int}) })
	if o, ok := LookupOption("t.ok"); !ok || o.Feature != "t" {
		t.Fatalf("LookupOption = %+v, %v", o, ok)
	}
}

func TestQueryLimit(t *testing.T) {
	for in, want := range map[int]int{0: DefaultLimit, -5: DefaultLimit, 5: 5, MaxLimit + 1: MaxLimit} {
		if got := (Query{Limit: in}).EffectiveLimit(); got != want {
			t.Errorf("EffectiveLimit(%d) = %d", in, got)
		}
	}
	c := EncodeKeyCursor("key/with\x00odd")
	if k, err := DecodeKeyCursor(c); err != nil || k != "key/with\x00odd" {
		t.Fatalf("cursor round trip = %q, %v", k, err)
	}
	// Forged and mangled cursors are refused: any base64 is not a cursor.
	forged := []string{"***", "zzzz", "a2V5", base64.RawURLEncoding.EncodeToString([]byte("key/with\x00odd")), c[:len(c)-1], c[1:], "A" + c[1:]}
	for _, bad := range forged {
		if bad == c {
			continue
		}
		if k, err := DecodeKeyCursor(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %q decoded to %q, %v", bad, k, err)
		}
	}
}

func TestErrors(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	err := Unavailable("database", cause)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) || err.Error() != "database unavailable: dial tcp: connection refused" {
		t.Fatalf("Unavailable = %v", err)
	}
	if Unavailable("x", nil) != nil || Unavailable("x", err) != err {
		t.Fatal("Unavailable of nil or of an unavailable error")
	}
	if !errors.Is(Invalid("bad %s", "thing"), ErrInvalid) {
		t.Fatal("Invalid is not ErrInvalid")
	}
}
