package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// FuzzConfigFile feeds arbitrary YAML: Load must succeed with values that
// pass their declared checks, or fail with config errors of one line each;
// never panic. Even when it fails, every value it kept passes its check.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"listen: 127.0.0.1:8080\n",
		"database:\n  url: memory://\n  max_connections: 3\n",
		"log: {level: debug, format: json}\n",
		"cache.capacity: 1GiB\ncache.default_ttl: 0\n",
		"listen: [a]\n",
		"- x\n",
		"a: &x 1\nb: *x\n",
		"listen: !!binary aGVsbG8=\n",
		"? [a]\n: b\n",
		"",
		"{{{",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(Sources{File: path, NotCompiled: map[string]string{"redis": "redis"}})
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not config.Errors: %T %v", err, err)
			}
			for _, e := range errs {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Fatalf("problem is not a *config.Error: %T %v", e, e)
				}
				if strings.Contains(e.Error(), "\n") {
					t.Fatalf("multi-line problem: %q", e)
				}
			}
		}
		for _, o := range providers.Options() {
			if v := c.Settings[o.Key]; v != o.DefaultValue() {
				if err := o.Check(v); err != nil {
					t.Fatalf("kept %s = %q that fails its check: %v", o.Key, v, err)
				}
			}
		}
	})
}
