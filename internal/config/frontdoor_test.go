package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func init() {
	providers.DeclareOptions("testfeature", providers.Option{Key: "testfeature.secret_size", Type: providers.Bytes, Secret: true})
}

// TestMultiDocumentRefused: a file with a second YAML document is refused
// (its keys would be dropped without a word), naming the line.
func TestMultiDocumentRefused(t *testing.T) {
	for body, line := range map[string]string{
		"listen: 127.0.0.1:1\n---\nlog.level: debug\n":     "line 2",
		"---\nlisten: 127.0.0.1:1\n---\nlog: {level: x}\n": "line 3",
	} {
		_, err := Load(Sources{File: writeFile(t, body)})
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(err.Error(), line+": a second YAML document") {
			t.Errorf("%q: %v", body, err)
		}
	}
	for _, body := range []string{"---\nlisten: 127.0.0.1:1\n", "listen: 127.0.0.1:1\n---\n", "listen: 127.0.0.1:1\n---\n# nothing\n---\n"} {
		if _, err := Load(Sources{File: writeFile(t, body)}); err != nil {
			t.Errorf("one document with --- markers %q: %v", body, err)
		}
	}
}

// TestSecretsStayOutOfMessages: a secret's value that fails its type check
// is not echoed; a secret given as a flag is warned about.
func TestSecretsStayOutOfMessages(t *testing.T) {
	_, err := Load(Sources{Environ: []string{"NAVIUS_TESTFEATURE_SECRET_SIZE=s3cret"}})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "not shown: it is a secret") {
		t.Errorf("bad secret value: %v", err)
	}
	c, err := Load(Sources{Flags: []Flag{{Key: "testfeature.token", Value: "s3cret", Name: "testfeature-token"}}})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings, "\n")
	if !strings.Contains(w, "flag --testfeature-token sets the secret testfeature.token on the command line") || !strings.Contains(w, "NAVIUS_TESTFEATURE_TOKEN") || strings.Contains(w, "s3cret") {
		t.Errorf("warnings: %q", w)
	}
	c, _ = Load(Sources{Environ: []string{"NAVIUS_TESTFEATURE_TOKEN=s3cret"}})
	if len(c.Warnings) != 0 {
		t.Errorf("a secret from the environment was warned about: %v", c.Warnings)
	}
}

// TestBounds: values outside an option's Min and Max are refused, naming
// the range.
func TestBounds(t *testing.T) {
	o := providers.Option{Key: "x", Type: providers.Duration, Min: "1ms", Max: "1h"}
	for v, want := range map[string]string{"0": "use 1ms to 1h; 0 would mean no limit", "2h": "use 1ms to 1h", "1ms": "", "1h": ""} {
		err := o.Check(v)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", v, err, want)
		}
	}
	b := providers.Option{Key: "y", Type: providers.Bytes, Min: "1KiB"}
	if err := b.Check("1000"); err == nil || !strings.Contains(err.Error(), "use at least 1KiB") {
		t.Errorf("bytes: %v", err)
	}
}
