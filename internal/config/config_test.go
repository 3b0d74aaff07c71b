package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func init() {
	// A provider option, as a feature's gate file would declare it.
	providers.DeclareOptions("testfeature", providers.Option{Key: "testfeature.token", Type: providers.String, Secret: true})
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "navius.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Settings.String("listen"); got != "127.0.0.1:8080" {
		t.Errorf("listen = %q", got)
	}
	if got := c.Settings.Bytes("server.max_body_bytes"); got != 1<<20 {
		t.Errorf("max body = %d", got)
	}
	// No provider is registered in this test: no default database, and
	// no cache.
	if got := c.Settings.String("database.url"); got != "" {
		t.Errorf("database.url = %q", got)
	}
	if got := c.Settings.String("cache.url"); got != "none" {
		t.Errorf("cache.url = %q", got)
	}
	if c.Source("listen") != "default" {
		t.Errorf("source = %q", c.Source("listen"))
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:1\nlog:\n  level: debug\n  format: json\ncache.capacity: 1MiB\n")
	c, err := Load(Sources{
		File:    file,
		Environ: []string{"NAVIUS_LOG_LEVEL=warn", "NAVIUS_LISTEN=127.0.0.1:2", "PATH=/bin"},
		Flags:   []Flag{{Key: "listen", Value: "127.0.0.1:3", Name: "listen"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listen":         "127.0.0.1:3", // flag beats env and file
		"log.level":      "warn",        // env beats file
		"log.format":     "json",        // file beats default
		"cache.capacity": "1MiB",        // dotted key in YAML
		"log.access":     "true",        // default
	}
	for k, v := range want {
		if got := c.Settings[k]; got != v {
			t.Errorf("%s = %q, want %q (from %s)", k, got, v, c.Source(k))
		}
	}
	if s := c.Source("log.format"); !strings.HasPrefix(s, "file ") || !strings.HasSuffix(s, "line 4") {
		t.Errorf("source of log.format = %q", s)
	}
	if s := c.Source("log.level"); s != "environment NAVIUS_LOG_LEVEL" {
		t.Errorf("source of log.level = %q", s)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name  string
		src   func(t *testing.T) Sources
		wants []string
	}{
		{"unknown key with line", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "listen: :1\n\ndatabse:\n  url: memory://\n")}
		}, []string{"line 4", `unknown key "databse.url"`, `did you mean "database.url"?`}},
		{"bad value with line", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "database:\n  max_connections: lots\n")}
		}, []string{"line 2", "database.max_connections", `"lots" is not an integer`}},
		{"bad enum", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "log.level: loud\n")}
		}, []string{"log.level", "not one of trace, debug, info, warn, error, fatal"}},
		{"bad duration in env", func(t *testing.T) Sources {
			return Sources{Environ: []string{"NAVIUS_DATABASE_TIMEOUT=soon"}}
		}, []string{"environment NAVIUS_DATABASE_TIMEOUT", "not a duration"}},
		{"bad flag", func(t *testing.T) Sources {
			return Sources{Flags: []Flag{{Key: "server.max_body_bytes", Value: "huge", Name: "server-max-body-bytes"}}}
		}, []string{"flag --server-max-body-bytes", "not a size"}},
		{"unknown flag key", func(t *testing.T) Sources {
			return Sources{Flags: []Flag{{Key: "nope", Value: "1", Name: "set nope"}}}
		}, []string{`unknown key "nope"`}},
		{"feature not compiled in", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "redis:\n  password: x\n"), NotCompiled: map[string]string{"redis": "redis"}, Compiled: []string{"memory", "splunk"}}
		}, []string{"line 2", "feature redis", "not compiled into this binary", "rebuild with FEATURES=memory,splunk,redis"}},
		{"duplicate key", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "listen: :1\nlisten: :2\n")}
		}, []string{"line 2", "repeats the one on line 1"}},
		{"list value", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "listen: [a, b]\n")}
		}, []string{"listen takes a single value, not a list"}},
		{"mapping for a value", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "listen:\n  host: a\n")}
		}, []string{"listen takes a single value, not a mapping"}},
		{"listen without a port", func(t *testing.T) Sources {
			return Sources{Flags: []Flag{{Key: "listen", Value: "localhost", Name: "set listen"}}}
		}, []string{"flag --set listen", `"localhost" is not host:port`}},
		{"not a mapping", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "- a\n- b\n")}
		}, []string{"top level must be a mapping"}},
		{"bad yaml", func(t *testing.T) Sources {
			return Sources{File: writeFile(t, "listen: \"unterminated\n")}
		}, []string{"navius.yaml", "line"}},
		{"missing file", func(t *testing.T) Sources {
			return Sources{File: filepath.Join(t.TempDir(), "nope.yaml")}
		}, []string{"nope.yaml does not exist"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.src(t))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

// TestEveryProblem: one load reports every problem of every source, each
// on its own line with where it is.
func TestEveryProblem(t *testing.T) {
	file := writeFile(t, "listen: nowhere\nlog:\n  level: loud\n  frmat: json\ncache.capacity: 1MiB\n")
	c, err := Load(Sources{
		File:    file,
		Environ: []string{"NAVIUS_DATABASE_TIMEOUT=soon"},
		Flags:   []Flag{{Key: "server.max_body_bytes", Value: "huge", Name: "server-max-body-bytes"}},
	})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	want := []string{"line 1: listen", "line 3: log.level", `line 4: unknown key "log.frmat"`, "environment NAVIUS_DATABASE_TIMEOUT", "flag --server-max-body-bytes"}
	if len(errs) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("problem %d = %q, want it to name %q", i, errs[i], w)
		}
	}
	// The values that loaded are kept: the rest of the checks can run on them.
	if c == nil || c.Settings.String("cache.capacity") != "1MiB" || c.Settings.String("listen") != "127.0.0.1:8080" {
		t.Fatalf("settings after problems: %v", c)
	}
}

func TestEnvWarnings(t *testing.T) {
	c, err := Load(Sources{
		Environ:     []string{"NAVIUS_NOT_AN_OPTION=1", "NAVIUS_SPLUNK_TOKEN=abc", "NAVIUS_TESTFEATURE_TOKEN=s3cret", "NAVIUS_LSTEN=:1"},
		NotCompiled: map[string]string{"splunk": "splunk"},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(c.Warnings, "\n")
	for _, w := range []string{"NAVIUS_NOT_AN_OPTION names no config option", "NAVIUS_SPLUNK_TOKEN is ignored: feature splunk is not compiled",
		"NAVIUS_LSTEN names no config option; ignored (did you mean NAVIUS_LISTEN?)"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings %q lack %q", all, w)
		}
	}
	if strings.Contains(all, "abc") || strings.Contains(all, "s3cret") {
		t.Errorf("a warning shows a value: %q", all)
	}
	if c.Settings.String("testfeature.token") != "s3cret" {
		t.Error("declared provider option not read from the environment")
	}
}

// TestEnvEntries reads NAVIUS_* variables as Load does: a declared
// option's by its key, any other without one.
func TestEnvEntries(t *testing.T) {
	got := EnvEntries([]string{"HOME=/root", "NAVIUS_DATABASE_URL=redis://h/0", "NAVIUS_SPLUNK_TOKEN=t", "NAVIUS_TESTFEATURE_TOKEN=s"})
	want := []Entry{{Key: "database.url", Value: "redis://h/0", Env: "NAVIUS_DATABASE_URL"}, {Value: "t", Env: "NAVIUS_SPLUNK_TOKEN"}, {Key: "testfeature.token", Value: "s", Env: "NAVIUS_TESTFEATURE_TOKEN"}}
	if !slices.Equal(got, want) {
		t.Fatalf("EnvEntries = %+v, want %+v", got, want)
	}
}

// A feature this binary lacks is off: "<feature>.enabled: false" for it is
// taken without a word (navius build --from-config leaves such a feature
// out), from any source; any other of its keys still asks for a rebuild.
func TestTurnsOffAbsent(t *testing.T) {
	absent := map[string]string{"prometheus": "prometheus"}
	for _, src := range []Sources{
		{File: writeFile(t, "prometheus:\n  enabled: false\n")},
		{File: writeFile(t, "prometheus.enabled: off\n")},
		{Environ: []string{"NAVIUS_PROMETHEUS_ENABLED=false"}},
		{Flags: []Flag{{Key: "prometheus.enabled", Value: "0", Name: "set prometheus.enabled"}}},
	} {
		src.NotCompiled = absent
		c, err := Load(src)
		if err != nil || len(c.Warnings) > 0 {
			t.Errorf("%+v: %v, warnings %q; want neither", src, err, c.Warnings)
		}
	}
	for _, src := range []Sources{
		{File: writeFile(t, "prometheus:\n  enabled: true\n")},
		{File: writeFile(t, "prometheus:\n  enabled: false\n  path: /m\n")},
	} {
		src.NotCompiled = absent
		if _, err := Load(src); err == nil || !strings.Contains(err.Error(), "feature prometheus, which is not compiled into this binary") {
			t.Errorf("%+v: %v; want the rebuild hint", src, err)
		}
	}
	c, err := Load(Sources{Environ: []string{"NAVIUS_PROMETHEUS_ENABLED=true"}, NotCompiled: absent})
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "NAVIUS_PROMETHEUS_ENABLED is ignored: feature prometheus is not compiled") {
		t.Errorf("NAVIUS_PROMETHEUS_ENABLED=true without prometheus: %v, warnings %q", err, c.Warnings)
	}
}

func TestEmptyFileAndNull(t *testing.T) {
	if _, err := Load(Sources{File: writeFile(t, "")}); err != nil {
		t.Errorf("empty file: %v", err)
	}
	c, err := Load(Sources{File: writeFile(t, "health:\n  disk_path: ~\n")})
	if err != nil || c.Settings.String("health.disk_path") != "" {
		t.Errorf("null value: %v %q", err, c.Settings.String("health.disk_path"))
	}
}

// TestFileEntries reads a file's keys as Load does (nested and dotted
// alike, lists joined, with their lines) without knowing the options.
func TestFileEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("database:\n  url: redis://h/0\nsplunk.endpoint: https://s\nauth:\nacme:\n  hosts:\n    - a\n    - b\n"), 0o644)
	entries, err := FileEntries(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{Key: "database.url", Value: "redis://h/0", Line: 2}, {Key: "splunk.endpoint", Value: "https://s", Line: 3}, {Key: "auth", Line: 4}, {Key: "acme.hosts", Value: "a,b", Line: 6}}
	if len(entries) != len(want) {
		t.Fatalf("entries = %+v, want %+v", entries, want)
	}
	for i := range want {
		if entries[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, entries[i], want[i])
		}
	}
	os.WriteFile(path, []byte("database:\n  url: a://\ndatabase:\n  url: b://\n"), 0o644)
	if _, err := FileEntries(path); err == nil || !strings.Contains(err.Error(), `line 3: key "database" repeats the one on line 1`) {
		t.Fatalf("a repeated key: %v", err)
	}
	if _, err := FileEntries(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a missing file: %v", err)
	}
}
