package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestPrometheusMetrics scrapes /metrics from a running default build after
// some traffic and checks it with promtool (the Debian prometheus package;
// make test installs it), then checks the series navius promises.
func TestPrometheusMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: apt-get install prometheus (make test installs it)")
	}
	bin, sel := binary(t, "default")
	p := serve(t, bin, t.TempDir(), nil)
	exercise(t, p)
	p.Do(t, "GET", "/api/v1/pets/tom", "") // a cache hit
	status, body := p.Do(t, "GET", "/metrics", "")
	if status != 200 {
		t.Fatalf("/metrics = %d %s", status, body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	route := `route="/api/v1/{collection}/{key}"`
	for _, want := range []string{
		`navius_http_requests_total{code="204",method="PUT",` + route + `} 3`,
		`navius_http_requests_total{code="400",method="PUT",` + route + `} 1`,
		`navius_http_request_duration_seconds_bucket{code="200",method="GET",` + route + `,le="+Inf"}`,
		`navius_http_requests_total{code="200",method="GET",route="/health"} 1`,
		`navius_database_operation_duration_seconds_count{operation="set",provider="bolt"} 3`,
		`navius_database_operation_duration_seconds_bucket{operation="get",provider="bolt",le=`,
		`navius_cache_hits_total{provider="memory"}`,
		`navius_cache_misses_total{provider="memory"}`,
		`navius_cache_entries{provider="memory"}`,
		`navius_cache_capacity_bytes{provider="memory"} 6.7108864e+07`,
		`navius_log_messages_total{level="info"}`,
		`navius_health_status{indicator="database",status="UP"} 1`,
		`navius_health_status{indicator="database",status="DOWN"} 0`,
		`navius_health_check_duration_seconds_count{indicator="disk_space"}`,
		`navius_build_info{features="` + strings.Join(sel.Features, ",") + `",go_version="go`,
		`version="v0.0.0-e2e"} 1`,
		"\ngo_goroutines ", "\nprocess_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Routes are mux patterns, never raw paths.
	if m := regexp.MustCompile(`route="/api/v1/pets[^"]*"`).FindString(body); m != "" {
		t.Errorf("/metrics has a raw path as a route: %s", m)
	}
	// The cache hit of the last GET shows.
	if !regexp.MustCompile(`navius_cache_hits_total\{provider="memory"\} [1-9]`).MatchString(body) {
		t.Errorf("no cache hit counted")
	}
	// Prometheus off: no endpoint.
	p2 := serve(t, bin, t.TempDir(), nil, "--prometheus-enabled", "false")
	if status, _ := p2.Do(t, "GET", "/metrics", ""); status != 404 {
		t.Errorf("/metrics with prometheus.enabled=false = %d", status)
	}
}

// TestBuildWithoutPrometheus: a build without the feature has no endpoint
// and says which feature its options belong to.
func TestBuildWithoutPrometheus(t *testing.T) {
	bin, _ := binary(t, "memory")
	p := serve(t, bin, t.TempDir(), nil)
	if status, body := p.Do(t, "GET", "/metrics", ""); status != 404 {
		t.Errorf("/metrics in a build without prometheus = %d %s", status, body)
	}
	code, _, stderr := run(t, bin, nil, "serve", "--set", "prometheus.path=/m")
	if code != 2 || !strings.Contains(stderr, "belongs to feature prometheus") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestPprofAdminListener: the profiling endpoints are on the admin listener
// only; the API listener answers 404 for them.
func TestPprofAdminListener(t *testing.T) {
	bin, _ := binary(t, "default,dynatrace,pprof")
	p := serve(t, bin, t.TempDir(), nil, "--pprof-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`pprof: admin listener serving /debug/pprof/ on (127\.0\.0\.1:\d+)`).FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("no admin listener address in the log:\n%s", p.Logs())
	}
	admin := "http://" + m[1]
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("admin GET %s = %d", path, resp.StatusCode)
		}
		if status, _ := p.Do(t, "GET", path, ""); status != 404 {
			t.Errorf("API listener GET %s = %d, want 404", path, status)
		}
	}
	// dynatrace is compiled in but off without an endpoint.
	_, body := p.Do(t, "GET", "/info", "")
	var info struct {
		Providers map[string]string `json:"providers"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.Providers["observability"] != "pprof,prometheus" {
		t.Errorf("/info providers = %v (%v)", info.Providers, err)
	}
	if err := p.Stop(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Logs())
	}
	if _, err := http.Get(admin + "/debug/pprof/"); err == nil {
		t.Error("the admin listener outlived the process")
	}
}

// TestDynatraceConfigErrors: a Dynatrace endpoint needs a token (except a
// local OneAgent) and https; errors are one line, exit 2, and never show
// the token.
func TestDynatraceConfigErrors(t *testing.T) {
	bin, _ := binary(t, "default,dynatrace,pprof")
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"NAVIUS_DYNATRACE_ENDPOINT=https://abc12345.live.dynatrace.com"}, "dynatrace.token is required"},
		{[]string{"NAVIUS_DYNATRACE_ENDPOINT=http://abc12345.live.dynatrace.com", "NAVIUS_DYNATRACE_TOKEN=dt0c01.SECRETTOKEN"}, "use https://"},
		{[]string{"NAVIUS_DYNATRACE_ENDPOINT=abc12345.live.dynatrace.com"}, "dynatrace.endpoint"},
	} {
		code, _, stderr := run(t, bin, append(c.env, "NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN="), "serve")
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line with %q", c.env, code, stderr, c.want)
		}
		if strings.Contains(stderr, "SECRETTOKEN") {
			t.Errorf("the token is printed: %s", stderr)
		}
	}
	_, out, _ := run(t, bin, []string{"NAVIUS_DYNATRACE_TOKEN=dt0c01.SECRETTOKEN"}, "config", "check")
	if strings.Contains(out, "SECRETTOKEN") || !strings.Contains(out, "dynatrace.token") {
		t.Errorf("config check shows the token or lacks the key:\n%s", out)
	}
}
