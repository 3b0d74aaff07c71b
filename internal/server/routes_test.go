package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/openapi"
)

// TestRoutesAreDescribed: what the server serves on the API listener and
// what its /openapi.json describes there are the same set of methods and
// paths, in a build of every feature (so a route added to New without its
// row in features.json fails here, and so does a row nothing serves).
func TestRoutesAreDescribed(t *testing.T) {
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	var features []string
	for _, f := range m.Features {
		features = append(features, f.Name)
	}
	extra := map[string]http.Handler{"/metrics": http.NotFoundHandler()} // what prometheus contributes
	doc, err := openapi.Build(openapi.Input{Manifest: m, Features: features, Version: "v1", Served: []string{"/metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	s := New(Deps{Store: f.srv.Store, Health: f.srv.Health, Log: f.srv.Log, Routes: extra, OpenAPI: doc})

	var parsed struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	var described, served []string
	for path, item := range parsed.Paths {
		if _, admin := item["servers"]; admin { // another listener
			continue
		}
		for method := range item {
			if method != "head" {
				described = append(described, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, r := range s.Routes() {
		served = append(served, r.Method+" "+r.Pattern)
	}
	slices.Sort(described)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(described, r) {
			t.Errorf("%s is served but /openapi.json does not describe it: add it to features.json's endpoints (and its details to internal/openapi)", r)
		}
	}
	for _, d := range described {
		if !slices.Contains(served, d) {
			t.Errorf("%s is described but not served", d)
		}
	}

	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, body := (&fixture{Server: ts}).do(t, "GET", "/openapi.json", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || body != string(doc) {
		t.Errorf("GET /openapi.json: %d %s, not the document", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
