package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestAdminEndpointsNeedAdmin: with authentication on, /info and the pprof
// admin listener need the admin scope, /metrics the metrics scope (or
// admin), and a scraper's metrics token reaches nothing else; the probes
// stay open.
func TestAdminEndpointsNeedAdmin(t *testing.T) {
	bin, _ := binary(t, "default,dynatrace,pprof")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_AUTH_TOKENS=admin:adm-token-0123456789,read+write:rw-token-0123456789,metrics:m-token-0123456789"}, "--pprof-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`admin listener serving /debug/pprof/ on (127\.0\.0\.1:\d+)`).FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", p.Logs())
	}
	do := func(method, url, token string) int {
		req, _ := http.NewRequest(method, url, strings.NewReader("v"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for url, byToken := range map[string]map[string]int{
		p.URL + "/info":                    {"": 401, "wrong": 401, "rw-token-0123456789": 403, "m-token-0123456789": 403, "adm-token-0123456789": 200},
		"http://" + m[1] + "/debug/pprof/": {"": 401, "wrong": 401, "rw-token-0123456789": 403, "m-token-0123456789": 403, "adm-token-0123456789": 200},
		p.URL + "/metrics":                 {"": 401, "wrong": 401, "rw-token-0123456789": 403, "m-token-0123456789": 200, "adm-token-0123456789": 200},
	} {
		for token, want := range byToken {
			if got := do("GET", url, token); got != want {
				t.Errorf("GET %s with token %q = %d, want %d", url, token, got, want)
			}
		}
	}
	for _, path := range []string{"/livez", "/readyz", "/health"} {
		if got := do("GET", p.URL+path, ""); got != 200 {
			t.Errorf("GET %s without a token = %d, want 200", path, got)
		}
	}
	if got := do("GET", p.URL+"/api/v1/c/k", ""); got != 401 {
		t.Errorf("API without a token = %d", got)
	}
	for _, method := range []string{"PUT", "GET", "DELETE"} {
		if got := do(method, p.URL+"/api/v1/c/k", "m-token-0123456789"); got != 403 {
			t.Errorf("%s /api/v1/c/k with the metrics token = %d, want 403", method, got)
		}
	}
	_ = p.Stop(t)
}
