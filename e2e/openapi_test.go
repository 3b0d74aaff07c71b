package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// described lists what a server's /openapi.json describes, as "METHOD
// path", and which paths are on another listener (they name servers).
func described(t *testing.T, p *proc) (ops []string, admin map[string]bool) {
	t.Helper()
	status, body := p.do(t, "GET", "/openapi.json", "")
	if status != 200 {
		t.Fatalf("/openapi.json = %d %s", status, body)
	}
	var doc struct {
		OpenAPI string
		Paths   map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("/openapi.json: %v, openapi %q", err, doc.OpenAPI)
	}
	admin = map[string]bool{}
	for path, item := range doc.Paths {
		for k := range item {
			switch k {
			case "servers":
				admin[path] = true
			case "get", "put", "post", "delete", "head":
				ops = append(ops, strings.ToUpper(k)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops, admin
}

// TestOpenAPIMatchesServer extends TestAPIReferenceMatchesServer to the
// served document: a build's /openapi.json describes exactly the endpoints
// of features.json that the build has, where its options serve them, and
// each one it describes is served (the catch-all 404 never answers it).
// The validator's checks are in the openapitest module.
func TestOpenAPIMatchesServer(t *testing.T) {
	m := loadManifest(t)
	expect := func(features []string, rename map[string]string, off ...string) []string {
		var out []string
		add := func(method, path string) {
			if p, ok := rename[path]; ok {
				path = p
			}
			if !slices.Contains(off, path) {
				out = append(out, method+" "+path)
			}
		}
		for _, e := range m.Core.Endpoints {
			add(e.Method, e.Path)
		}
		add("HEAD", "/api/v1/{collection}/{key}")
		for _, f := range m.Features {
			if slices.Contains(features, f.Name) {
				for _, e := range f.Endpoints {
					add(e.Method, e.Path)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	unrouted := func(p *proc, base, path string) bool {
		req, _ := http.NewRequest("GET", base+strings.NewReplacer("{collection}", "c", "{key}", "k").Replace(path), nil)
		req.Header.Set("Authorization", "Bearer ad-0123456789abcdef")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 404 && strings.Contains(string(b), "no endpoint")
	}
	env := []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_AUTH_TOKENS=admin:ad-0123456789abcdef", "NAVIUS_LOG_ACCESS=false"}

	bin, sel := binary(t, "all")
	for _, tc := range []struct {
		name   string
		args   []string
		rename map[string]string
		off    []string
	}{
		{name: "defaults", args: []string{"--pprof-listen", "127.0.0.1:0"}},
		{name: "metrics moved", args: []string{"--prometheus-path", "/prom"}, rename: map[string]string{"/metrics": "/prom"}},
		{name: "metrics off", args: []string{"--prometheus-enabled=false"}, off: []string{"/metrics"}},
	} {
		p := serve(t, bin, t.TempDir(), env, tc.args...)
		ops, admin := described(t, p)
		if want := expect(sel.Features, tc.rename, tc.off...); !slices.Equal(ops, want) {
			t.Errorf("%s: /openapi.json describes\n%v\nwant\n%v", tc.name, ops, want)
		}
		for _, op := range ops {
			method, path, _ := strings.Cut(op, " ")
			if method == "GET" && !admin[path] && unrouted(p, p.URL, path) {
				t.Errorf("%s: %s is described but not served", tc.name, op)
			}
		}
		for _, path := range tc.off {
			if !unrouted(p, p.URL, path) {
				t.Errorf("%s: %s is served but not described", tc.name, path)
			}
		}
		_ = p.stop(t)
	}

	bin, _ = binary(t, "memory")
	p := serve(t, bin, t.TempDir(), env)
	ops, _ := described(t, p)
	if want := expect([]string{"memory"}, nil); !slices.Equal(ops, want) {
		t.Errorf("memory: /openapi.json describes %v, want %v", ops, want)
	}
	_ = p.stop(t)
}
