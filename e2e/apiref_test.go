package e2e

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/manifest"
)

// TestAPIReferenceMatchesServer keeps the endpoints that features.json
// declares (the source of navius docs' API reference) true to the server:
// in a build with every feature, each documented endpoint answers its method
// on its listener, refuses a caller without a token exactly when it has a
// scope, and serves a caller whose token has that scope; in a build of the
// memory alone, the endpoints of the other features are not served.
func TestAPIReferenceMatchesServer(t *testing.T) {
	m := loadManifest(t)
	type documented struct {
		feature string
		manifest.Endpoint
	}
	var eps []documented
	for _, e := range m.Core.Endpoints {
		eps = append(eps, documented{"core", e})
	}
	for _, f := range m.Features {
		for _, e := range f.Endpoints {
			eps = append(eps, documented{f.Name, e})
		}
	}
	if len(eps) == 0 {
		t.Fatal("features.json declares no endpoint")
	}
	tokens := map[string]string{"read": "rd-token-0123456789", "write": "wr-token-0123456789", "metrics": "m-token-0123456789", "admin": "adm-token-0123456789"}
	env := []string{"NAVIUS_AUTH_TOKENS=read:rd-token-0123456789,write:wr-token-0123456789,metrics:m-token-0123456789,admin:adm-token-0123456789"}
	for i, e := range eps {
		if e.Listener == "" {
			eps[i].Listener = "api"
		}
		if e.Scope != "" && tokens[e.Scope] == "" {
			t.Errorf("%s endpoint %s %s: unknown scope %q (read, write, metrics, admin, or none for open)", e.feature, e.Method, e.Path, e.Scope)
		}
		if e.Listener != "" && e.Listener != "api" && e.Listener != "admin" {
			t.Errorf("%s endpoint %s %s: unknown listener %q (api or admin)", e.feature, e.Method, e.Path, e.Listener)
		}
	}

	call := func(base string, e manifest.Endpoint, token string) (int, string) {
		t.Helper()
		path := strings.NewReplacer("{collection}", "refc", "{key}", "refk").Replace(e.Path)
		var body io.Reader
		if e.Method == http.MethodPut {
			body = strings.NewReader("v")
		}
		req, err := http.NewRequest(e.Method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", e.Method, base+path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The server's catch-all answers 404 "no endpoint ..."; a key that is
	// absent is a 404 too, but from a served endpoint.
	unrouted := func(code int, body string) bool {
		return code == http.StatusNotFound && strings.Contains(body, "no endpoint")
	}

	bin, sel := binary(t, "all")
	p := serve(t, bin, t.TempDir(), env, "--pprof-listen", "127.0.0.1:0")
	bases := map[string]string{"api": p.URL}
	if mm := regexp.MustCompile(`admin listener serving \S+ on (127\.0\.0\.1:\d+)`).FindStringSubmatch(p.Logs()); mm != nil {
		bases["admin"] = "http://" + mm[1]
	}
	for _, e := range eps {
		if e.feature != "core" && !slices.Contains(sel.Features, e.feature) {
			t.Fatalf("feature %s is not in the build of all", e.feature)
		}
		base, ok := bases[e.Listener]
		if !ok {
			t.Errorf("%s endpoint %s %s is on the %s listener, which the log never announced:\n%s", e.feature, e.Method, e.Path, e.Listener, p.Logs())
			continue
		}
		code, body := call(base, e.Endpoint, "")
		switch {
		case unrouted(code, body):
			t.Errorf("%s endpoint %s %s (%s listener) is documented but not served: %d %s", e.feature, e.Method, e.Path, e.Listener, code, body)
			continue
		case e.Scope == "" && (code == http.StatusUnauthorized || code == http.StatusForbidden):
			t.Errorf("%s endpoint %s %s is documented as open but refuses a caller without a token: %d", e.feature, e.Method, e.Path, code)
		case e.Scope != "" && code != http.StatusUnauthorized:
			t.Errorf("%s endpoint %s %s is documented with scope %s but serves a caller without a token: %d", e.feature, e.Method, e.Path, e.Scope, code)
		}
		if e.Scope == "" {
			continue
		}
		code, body = call(base, e.Endpoint, tokens[e.Scope])
		if code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusMethodNotAllowed || unrouted(code, body) || code >= 500 {
			t.Errorf("%s endpoint %s %s with a %s token: %d %s", e.feature, e.Method, e.Path, e.Scope, code, body)
		}
	}
	_ = p.Stop(t)

	// A build of memory alone serves none of the other features' endpoints.
	bin, sel = binary(t, "memory")
	p = serve(t, bin, t.TempDir(), env)
	for _, e := range eps {
		if e.feature == "core" || slices.Contains(sel.Features, e.feature) || e.Listener != "api" {
			continue
		}
		if code, body := call(p.URL, e.Endpoint, tokens["admin"]); !unrouted(code, body) {
			t.Errorf("a build without %s serves its endpoint %s %s: %d %s", e.feature, e.Method, e.Path, code, body)
		}
	}
	_ = p.Stop(t)
}
