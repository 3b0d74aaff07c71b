package e2e

import (
	"net/http"
	"regexp"
	"testing"
)

// TestAdminEndpointsNeedAdmin: with authentication on, /info, /metrics and
// the pprof admin listener need the admin scope; the probes stay open.
func TestAdminEndpointsNeedAdmin(t *testing.T) {
	bin, _ := binary(t, "default,dynatrace,pprof")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_AUTH_TOKENS=admin:adm-tok,read+write:rw-tok"}, "--pprof-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`admin listener serving /debug/pprof/ on (127\.0\.0\.1:\d+)`).FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", p.logs.String())
	}
	get := func(url, token string) int {
		req, _ := http.NewRequest("GET", url, nil)
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
	for _, url := range []string{p.URL + "/info", p.URL + "/metrics", "http://" + m[1] + "/debug/pprof/"} {
		for token, want := range map[string]int{"": 401, "wrong": 401, "rw-tok": 403, "adm-tok": 200} {
			if got := get(url, token); got != want {
				t.Errorf("GET %s with token %q = %d, want %d", url, token, got, want)
			}
		}
	}
	for _, path := range []string{"/livez", "/readyz", "/health"} {
		if got := get(p.URL+path, ""); got != 200 {
			t.Errorf("GET %s without a token = %d, want 200", path, got)
		}
	}
	if got := get(p.URL+"/api/v1/c/k", ""); got != 401 {
		t.Errorf("API without a token = %d", got)
	}
	_ = p.stop(t)
}
