package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/providers"
)

func init() {
	providers.DeclareOptions("clitest", providers.Option{Key: "clitest.token", Type: providers.String, Secret: true, Description: "a secret"})
}

func runCLI(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	data, err := os.ReadFile("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	env := &Env{Manifest: m, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Environ: environ}
	code := Run(env, append([]string{"navius"}, args...))
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "serve"},
		{[]string{"version"}, 0, "navius dev"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"config", "check", "--set", "log.level=loud"}, 2, "not one of"},
		{[]string{"config", "check", "--listen"}, 2, "flag needs an argument"},
	}
	for _, c := range cases {
		code, out, errOut := runCLI(t, nil, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) {
			t.Errorf("navius %v = exit %d, out %q, err %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.want)
		}
	}
}

func TestConfigCheckHidesSecrets(t *testing.T) {
	code, out, errOut := runCLI(t, []string{"NAVIUS_CLITEST_TOKEN=hunter2-secret", "NAVIUS_DATABASE_URL=memory://"},
		"config", "check", "--set", "cache.url=memory://")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, "hunter2") {
		t.Fatalf("config check printed a secret:\n%s", out)
	}
	for _, want := range []string{"clitest.token", "<secret>", "environment NAVIUS_CLITEST_TOKEN", "flag --set cache.url", "listen"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
}

func TestConfigKeysJSON(t *testing.T) {
	code, out, _ := runCLI(t, nil, "config", "keys", "--json")
	if code != 0 {
		t.Fatal(code)
	}
	var rows []struct {
		Key, Env, Flag, Feature string
		Secret                  bool
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if r.Key == "listen" && r.Env == "NAVIUS_LISTEN" && r.Flag == "--listen" && r.Feature == "core" {
			found = true
		}
	}
	if !found || len(rows) != len(providers.Options()) {
		t.Fatalf("config keys --json: %d rows, listen found %v", len(rows), found)
	}
}

func TestFeaturesReport(t *testing.T) {
	// The test binary has no gate files: nothing is compiled in, and with
	// no build tags the defaults are expected, so the report says they
	// disagree.
	code, out, errOut := runCLI(t, nil, "--features", "--json")
	if code != 0 {
		t.Fatal(code, errOut)
	}
	var r FeatureReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Consistent || !strings.Contains(r.Problem, "disagree with the build tags") || !strings.Contains(errOut, "warning:") {
		t.Fatalf("report = %+v, stderr %q", r, errOut)
	}
	if r.GoVersion == "" || r.Platform == "" {
		t.Fatalf("report lacks build facts: %+v", r)
	}
}

// TestSampleConfigLoads: the sample config of a binary loads back without
// error and hides secrets.
func TestSampleConfigLoads(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "config", "sample")
	if code != 0 {
		t.Fatal(errOut)
	}
	if !strings.Contains(out, "# token: <secret: set NAVIUS_CLITEST_TOKEN>") {
		t.Fatalf("sample lacks the secret placeholder:\n%s", out)
	}
	path := t.TempDir() + "/sample.yaml"
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, nil, "config", "check", "--config", path)
	if code != 0 {
		t.Fatalf("the sample does not load: %s", errOut)
	}
	if !strings.Contains(out, "file "+path) {
		t.Fatalf("config check does not show the file as a source:\n%s", out)
	}
}
