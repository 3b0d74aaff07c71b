package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/app"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
	"github.com/navius-dev/navius/providers/memory"
	"github.com/navius-dev/navius/providers/pprof"
	"github.com/navius-dev/navius/providers/prometheus"
	"github.com/navius-dev/navius/providers/splunk"
)

func init() {
	providers.DeclareOptions("clitest", providers.Option{Key: "clitest.token", Type: providers.String, Secret: true, Description: "a secret"})
	// A feature's settings check, as a gate file declares it.
	providers.DeclareCheck("clitest", func(s providers.Settings) error {
		if s.String("clitest.token") == "refused" {
			return providers.Invalid("clitest.token: the provider refuses this token")
		}
		return nil
	})
	// The real providers, as their gate files register them (with their
	// checks): the configuration checks resolve the database and cache
	// URLs and run the providers' checks.
	providers.RegisterDatabase("memory", []string{"memory"}, memory.OpenDatabase, memory.CheckDatabase)
	providers.RegisterCache("memory", []string{"memory"}, memory.OpenCache, memory.CheckCache)
	providers.RegisterDatabase("bolt", []string{"bolt"}, bolt.OpenDatabase, bolt.CheckDatabase)
	providers.DeclareOptions("bolt", bolt.Options...)
	providers.DeclareOptions("memory", memory.Options...)
	providers.RegisterObserver("prometheus", prometheus.Open, prometheus.Check)
	providers.DeclareOptions("prometheus", prometheus.Options...)
	providers.RegisterObserver("pprof", pprof.Open, pprof.Check)
	providers.DeclareOptions("pprof", pprof.Options...)
	providers.RegisterLogSink(providers.LogSinkProvider{Name: "splunk", Enabled: splunk.Enabled, Level: splunk.Level, Open: splunk.Open, Check: splunk.Check})
	providers.DeclareOptions("splunk", splunk.Options...)
}

// testManifest is the tree's features.json.
func testManifest(t *testing.T) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func runCLI(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{Manifest: testManifest(t), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Environ: environ}
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
		// Usage errors name the command as typed, and offer the closest
		// flag or command.
		{[]string{"config", "check", "--lissten", "x"}, 2, "(did you mean --listen?); see navius config check --help"},
		{[]string{"serve", "--log-levl", "debug"}, 2, "(did you mean --log-level?); see navius serve --help"},
		{[]string{"config", "chek"}, 2, `config: unknown command "chek" (did you mean "check"?)`},
		// A command of a feature this binary lacks says which one.
		{[]string{"build"}, 2, `command "build" comes with feature builder`},
		{[]string{"--features"}, 0, "core only"},
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

// TestSetTakesCommas: --set takes its value whole, so a list option's
// commas stay in it (a StringSliceFlag split --set auth.tokens=a,b in two).
func TestSetTakesCommas(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "config", "check", "--set", "auth.tokens=read:aaaaaaaaaaaaaaaa1,write:bbbbbbbbbbbbbbbb2", "--set", "log.level=debug")
	if code != 0 || !strings.Contains(out, "flag --set auth.tokens") || !strings.Contains(out, "flag --set log.level") {
		t.Fatalf("config check --set with a comma: exit %d\n%s%s", code, out, errOut)
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

// TestFeaturesStateBounds: --features states the defaults of the options
// that cap what a feature holds (memory.capacity), in both forms.
func TestFeaturesStateBounds(t *testing.T) {
	f := CompiledFeature{Name: "memory", Provides: []string{"database:memory"},
		Capabilities: map[string][]string{"database:memory": {"conditional"}}, Bounds: boundsByFeature()["memory"]}
	if f.Bounds["memory.capacity"] != memory.DefaultDatabaseCapacity || len(f.Bounds) != 1 {
		t.Fatalf("memory's bounds %v, want memory.capacity %s", f.Bounds, memory.DefaultDatabaseCapacity)
	}
	if got, want := providesText(f), "database:memory (conditional); memory.capacity 1GiB by default"; got != want {
		t.Errorf("providesText = %q, want %q", got, want)
	}
	if b := boundsByFeature()["bolt"]; b != nil {
		t.Errorf("bolt declares no bound option, got %v", b)
	}
}

// TestSampleConfigLoads: the sample config of a binary loads back without
// error and hides secrets.
func TestSampleConfigLoads(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "config", "sample")
	if code != 0 {
		t.Fatal(errOut)
	}
	if !strings.Contains(out, `# token: ""  # secret: set NAVIUS_CLITEST_TOKEN instead of writing it here`) {
		t.Fatalf("sample lacks the secret placeholder:\n%s", out)
	}
	if strings.Contains(out, "redis") {
		t.Errorf("the sample of a build without redis mentions it:\n%s", out)
	}
	path := t.TempDir() + "/sample.yaml"
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	code, checked, errOut := runCLI(t, nil, "config", "check", "--config", path)
	if code != 0 {
		t.Fatalf("the sample does not load: %s", errOut)
	}
	if !strings.Contains(checked, "file "+path) {
		t.Fatalf("config check does not show the file as a source:\n%s", checked)
	}
	// Uncommenting every option line, secrets included, still gives a
	// config that loads.
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if body, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "# "); ok && strings.Contains(strings.SplitN(body, " ", 2)[0], ":") {
			line = line[:len(line)-len(strings.TrimLeft(line, " "))] + body
		}
		lines = append(lines, line)
	}
	uncommented := strings.Join(lines, "\n")
	if !strings.Contains(uncommented, "\n  token: \"\"  # secret") {
		t.Fatalf("the secret line was not uncommented:\n%s", uncommented)
	}
	os.WriteFile(path, []byte(uncommented), 0o600)
	if code, _, errOut := runCLI(t, nil, "config", "check", "--config", path); code != 0 {
		t.Fatalf("the sample with every line uncommented does not load: %s\n%s", errOut, uncommented)
	}
}

// TestCheckRefusesWhatServeRefuses runs configurations that serve refuses
// before it opens anything through both real commands, serve and config
// check: each must exit 2 with the same problems. Both call app.Validate;
// the table has a case for every check Validate runs, so a new check
// cannot go untested.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	// Were serve to start, it would not collide.
	base := []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN=127.0.0.1:0"}
	cases := []struct {
		check string
		env   []string
		args  []string
		want  string
	}{
		{"config", nil, []string{"--set", "log.level=loud"}, `"loud" is not one of`},
		{"config", nil, []string{"--set", "listen=localhost"}, `"localhost" is not host:port`},
		{"config", []string{"NAVIUS_DATABASE_TIMEOUT=soon"}, nil, "environment NAVIUS_DATABASE_TIMEOUT"},
		{"listen", nil, []string{"--set", "listen="}, "listen is empty"},
		{"auth", []string{"NAVIUS_AUTH_TOKENS=writer:abc"}, nil, `unknown scope "writer"`},
		{"auth", []string{"NAVIUS_AUTH_TOKENS=abc"}, nil, "not scope[+scope]:value"},
		{"auth", nil, []string{"--set", "auth.token_hashes=read:nothex"}, "not a hex SHA-256"},
		{"database", []string{"NAVIUS_DATABASE_URL=mysql://db"}, nil, `no provider for scheme "mysql"`},
		{"database", nil, []string{"--set", "database.tls.ca_file=/no/such/ca.pem"}, "database.tls.ca_file"},
		{"cache", nil, []string{"--set", "cache.url=redis://cache:6379"}, `cache: no provider for scheme "redis"`},
		{"features", []string{"NAVIUS_CLITEST_TOKEN=refused"}, nil, "the provider refuses this token"},
		// Each provider's own check (issue 20's cases for the providers
		// of this binary; e2e/frontdoor_test.go has the others').
		{"database", []string{"NAVIUS_DATABASE_URL=bolt://"}, nil, `bolt URL "bolt://" names no file`},
		{"database", []string{"NAVIUS_DATABASE_URL=memory://host/path"}, nil, `bad memory URL "memory://host/path"`},
		{"database", []string{"NAVIUS_DATABASE_URL=bolt://./x.db", "NAVIUS_BOLT_MAX_BATCH_SIZE=0"}, nil, "bolt.max_batch_size is 0"},
		{"cache", []string{"NAVIUS_CACHE_URL=memory://x:s3cret@host"}, nil, `bad memory URL "memory://x:xxxxx@host"`},
		{"observability", nil, []string{"--set", "prometheus.path=/health"}, "prometheus.path /health is one of the server's own endpoints"},
		{"observability", nil, []string{"--set", "prometheus.path=/readyz"}, "prometheus.path /readyz is one of the server's own endpoints"},
		{"observability", nil, []string{"--set", "prometheus.path=/info"}, "prometheus.path /info is one of the server's own endpoints"},
		{"observability", []string{"NAVIUS_LISTEN=127.0.0.1:18080"}, []string{"--pprof-listen", "127.0.0.1:18080"}, "pprof.listen 127.0.0.1:18080 is the API's listen address"},
		{"observability", nil, []string{"--pprof-listen", "0.0.0.0:0"}, "reachable beyond loopback while authentication is off"},
		{"logging", []string{"NAVIUS_SPLUNK_ENDPOINT=https://splunk.example:8088"}, nil, "splunk.token is empty"},
		{"tls", nil, []string{"--set", "server.tls.cert_file=/no/such/cert.pem"}, "server.tls.cert_file is set (flag --set server.tls.cert_file) but server.tls.key_file is not"},
		{"tls", nil, []string{"--set", "server.tls.client_auth=require"}, "server.tls.client_auth is require but server.tls.client_ca_file is not set"},
		{"auth", []string{"NAVIUS_AUTH_TOKENS=read:dup-token-0123456789,write:dup-token-0123456789"}, nil, "auth.tokens entry 2 holds the same token as auth.tokens entry 1"},
		{"auth", []string{"NAVIUS_AUTH_TOKENS=read: spaced-token-0123456789"}, nil, "holds whitespace"},
		{"auth", []string{"NAVIUS_AUTH_TOKENS=read:short"}, nil, "use at least 16"},
		{"auth", nil, []string{"--set", "auth.client_cert_scopes=read:svc"}, "server.tls.client_auth is none"},
		{"health", nil, []string{"--set", "health.disk_path=/no/such/dir"}, "health.disk_path /no/such/dir (flag --set health.disk_path): no such file or directory"},
		// Bounds of the core options.
		{"config", nil, []string{"--set", "database.max_connections=0"}, `database.max_connections: "0" is out of range: use 1 to 10000`},
		{"config", nil, []string{"--set", "cache.capacity=0"}, `cache.capacity: "0" is out of range: use at least 1KiB`},
		{"config", nil, []string{"--set", "server.read_timeout=0"}, `server.read_timeout: "0" is out of range: use at least 1ms; 0 would mean no limit at all`},
		{"config", nil, []string{"--set", "server.read_header_timeout=0s"}, `"0s" is out of range`},
		{"config", nil, []string{"--set", "server.idle_timeout=0"}, `server.idle_timeout: "0" is out of range`},
		{"config", nil, []string{"--set", "server.max_body_bytes=0"}, `server.max_body_bytes: "0" is out of range: use 1 to 1GiB`},
		{"config", nil, []string{"--set", "server.max_body_bytes=2GiB"}, `server.max_body_bytes: "2GiB" is out of range: use 1 to 1GiB`},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.check] = true
		env := append(slices.Clone(base), c.env...)
		code, _, checkErr := runCLI(t, env, append([]string{"config", "check"}, c.args...)...)
		if code != 2 || !strings.Contains(checkErr, c.want) {
			t.Errorf("config check %v %v: exit %d, stderr %q; want exit 2 with %q", c.env, c.args, code, checkErr, c.want)
		}
		code, serveErr := serveBriefly(t, env, c.args...)
		if code != 2 || !strings.Contains(serveErr, c.want) {
			t.Errorf("serve %v %v: exit %d, stderr %q; want exit 2 with %q", c.env, c.args, code, serveErr, c.want)
		}
		if checkErr != serveErr {
			t.Errorf("%v %v: config check says %q, serve says %q", c.env, c.args, checkErr, serveErr)
		}
	}
	for _, name := range app.CheckNames() {
		if !covered[name] {
			t.Errorf("check %q has no case here: add a configuration it refuses", name)
		}
	}

	// Several problems at once: each on its own line, in both commands.
	env := append(slices.Clone(base), "NAVIUS_AUTH_TOKENS=abc", "NAVIUS_DATABASE_URL=mysql://db")
	args := []string{"--set", "log.level=loud", "--set", "listen=nowhere"}
	code, _, checkErr := runCLI(t, env, append([]string{"config", "check"}, args...)...)
	_, serveErr := serveBriefly(t, env, args...)
	if code != 2 || strings.Count(checkErr, "navius: config: ") != 4 || checkErr != serveErr {
		t.Errorf("four problems: exit %d\ncheck:\n%s\nserve:\n%s", code, checkErr, serveErr)
	}
}

// serveBriefly runs navius serve in process; a configuration it accepts
// would make it serve, which fails the test instead of hanging it.
func serveBriefly(t *testing.T, environ []string, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCLI(t, environ, append([]string{"serve"}, args...)...)
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(10 * time.Second):
		t.Fatalf("serve %v %v accepted the configuration and is serving", environ, args)
	}
	return 0, ""
}

func TestConfigCheckSaysOK(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "config", "check")
	if code != 0 || !strings.HasSuffix(out, "config OK: serve would start with these settings\n") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestVersionFlagMatchesCommand(t *testing.T) {
	_, cmd, _ := runCLI(t, nil, "version")
	_, flag, _ := runCLI(t, nil, "--version")
	if cmd != flag || !strings.HasPrefix(cmd, "navius dev (go") {
		t.Fatalf("version printed %q, --version %q", cmd, flag)
	}
}

// TestServeHelp: every option flag shows its default, its environment
// variable and, for an enum, its choices; a boolean one works bare.
func TestServeHelp(t *testing.T) {
	_, out, _ := runCLI(t, nil, "serve", "--help")
	for _, want := range []string{
		"--listen ADDRESS", "(default: 127.0.0.1:8080) [$NAVIUS_LISTEN]",
		"One of: trace, debug, info, warn, error, fatal. (default: info) [$NAVIUS_LOG_LEVEL]",
		"--log-access[=false]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	for _, o := range providers.Options() {
		if !strings.Contains(out, "--"+o.FlagName()) || !strings.Contains(out, "[$"+o.EnvName()+"]") {
			t.Errorf("serve --help lacks the flag or the variable of %s", o.Key)
		}
	}
	code, out, errOut := runCLI(t, nil, "config", "check", "--log-access", "--listen", ":0")
	if code != 0 || !strings.Contains(out, "flag --log-access") {
		t.Fatalf("a bare boolean flag: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, nil, "config", "check", "--log-access", "false", "--listen", ":0")
	if code != 0 || !regexp.MustCompile(`log\.access\s+false\s+flag --log-access`).MatchString(out) {
		t.Fatalf("a boolean flag with its value as the next argument: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, nil, "config", "check", "--log-access=maybe")
	if code != 2 || !strings.Contains(errOut, "flag --log-access: log.access") {
		t.Fatalf("a bad boolean flag value: exit %d %s", code, errOut)
	}
}
