package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/internal/harness"
)

// TestSecretsNeverShow gives every secret option of a build with all
// features a distinctive value, turns on every feature that has an endpoint
// (pointing it at a local stub), drives the server at trace level, and
// checks that no secret appears in the logs, /info, /health, /metrics,
// --features, the config listings or the help. Driven by the binary's own
// declarations (config keys --json), so a new secret is covered unchanged.
func TestSecretsNeverShow(t *testing.T) {
	bin, _ := binary(t, "all")
	code, out, stderr := run(t, bin, nil, "config", "keys", "--json")
	if code != 0 {
		t.Fatalf("config keys: %s", stderr)
	}
	var opts []struct {
		Key, Type string
		Secret    bool
	}
	if err := json.Unmarshal([]byte(out), &opts); err != nil {
		t.Fatal(err)
	}

	// A stub that accepts whatever the log and metric exporters send.
	var mu sync.Mutex
	var received int
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		received++
		mu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "/services/collector/health"):
			_, _ = io.WriteString(w, `{"text":"HEC is healthy","code":17}`)
		case strings.Contains(r.URL.Path, "/services/collector"):
			_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
		case strings.Contains(r.URL.Path, "metrics/ingest"):
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"linesOk":1,"linesInvalid":0,"error":null}`)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer stub.Close()

	var env, secrets []string
	const adminToken = "S3CRET-admin-token-7f3a9c"
	for i, o := range opts {
		switch {
		case o.Secret:
			v := fmt.Sprintf("S3CRET-%d-%s-b41d", i, strings.ReplaceAll(o.Key, ".", "-"))
			secrets = append(secrets, v)
			if o.Key == "auth.tokens" {
				v = "admin:" + adminToken + ",read:" + v
				secrets = append(secrets, adminToken)
			}
			env = append(env, envName(o.Key)+"="+v)
		case strings.HasSuffix(o.Key, ".endpoint"):
			env = append(env, envName(o.Key)+"="+stub.URL)
		}
	}
	if len(secrets) < 3 {
		t.Fatalf("only %d secret options declared: %v", len(secrets), opts)
	}
	env = append(env, "NAVIUS_LOG_LEVEL=trace", "NAVIUS_PPROF_LISTEN=127.0.0.1:0")

	outputs := map[string]string{}
	p := serve(t, bin, t.TempDir(), env)
	get := func(path string) string {
		code, b := harness.Get(t, p.URL+path, adminToken)
		if code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, b)
		}
		return b
	}
	req, _ := http.NewRequest("PUT", p.URL+"/api/v1/c/k", strings.NewReader("v"))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("PUT: %v %v", resp, err)
	}
	// A wrong token must not be echoed either.
	const wrongToken = "S3CRET-wrong-token-5e6f"
	secrets = append(secrets, wrongToken)
	req, _ = http.NewRequest("GET", p.URL+"/info", nil)
	req.Header.Set("Authorization", "Bearer "+wrongToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("wrong token: %v %v", resp, err)
	}
	for _, path := range []string{"/info", "/health", "/metrics", "/api/v1/c/k", "/api/v1/c"} {
		outputs[path] = get(path)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
	outputs["serve log (trace)"] = p.Logs()
	for name, args := range map[string][]string{
		"--features":        {"--features"},
		"--features --json": {"--features", "--json"},
		"config keys":       {"config", "keys"},
		"config keys json":  {"config", "keys", "--json"},
		"config check":      {"config", "check"},
		"serve --help":      {"serve", "--help"},
	} {
		_, o, e := run(t, bin, env, args...)
		outputs[name] = o + e
	}
	if !strings.Contains(outputs["config check"], "<secret>") {
		t.Errorf("config check does not mask secrets:\n%s", outputs["config check"])
	}
	for name, text := range outputs {
		if text == "" {
			t.Errorf("%s: no output to check", name)
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %s", name, s)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if received == 0 {
		t.Error("no exporter reached the stub: the features with endpoints did not turn on")
	}
}

func envName(key string) string {
	return "NAVIUS_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}
