package openapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/manifest"
)

func loadManifest(t *testing.T) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func allFeatures(m *manifest.Manifest) []string {
	var out []string
	for _, f := range m.Features {
		out = append(out, f.Name)
	}
	return out
}

type document struct {
	OpenAPI string
	Info    struct{ Version string }
	Paths   map[string]map[string]json.RawMessage
}

func build(t *testing.T, in Input) (document, []byte) {
	t.Helper()
	raw, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc document
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, item := range doc.Paths {
		for k, v := range item {
			var b bytes.Buffer
			_ = json.Compact(&b, v)
			item[k] = b.Bytes()
		}
	}
	return doc, raw
}

// TestDetailsMatchTheTable keeps the operations of api.json and the
// endpoint table of features.json one list: an endpoint without details
// would be described from its table entry alone, details without an
// endpoint are never used.
func TestDetailsMatchTheTable(t *testing.T) {
	m := loadManifest(t)
	d, err := loadDetails()
	if err != nil {
		t.Fatalf("api.json: %v", err)
	}
	table := d.Operations
	seen := map[string]bool{}
	for _, e := range Endpoints(Input{Manifest: m, Features: allFeatures(m)}) {
		k := e.Method + " " + e.Path
		seen[k] = true
		if _, ok := table[k]; !ok {
			t.Errorf("%s endpoint %s has no details in api.json", e.Feature, k)
		}
	}
	for k := range table {
		if !seen[k] {
			t.Errorf("api.json describes %s, which features.json does not list", k)
		}
	}
}

// TestBuildDescribesTheBuild: every endpoint of a build's features is
// described, no other; HEAD beside the GET of a key; scopes as security.
func TestBuildDescribesTheBuild(t *testing.T) {
	m := loadManifest(t)
	doc, raw := build(t, Input{Manifest: m, Features: allFeatures(m), Version: "v9.9.9"})
	if doc.OpenAPI != "3.1.0" || doc.Info.Version != "v9.9.9" {
		t.Fatalf("openapi %q version %q", doc.OpenAPI, doc.Info.Version)
	}
	for _, e := range Endpoints(Input{Manifest: m, Features: allFeatures(m)}) {
		op, ok := doc.Paths[e.Path][strings.ToLower(e.Method)]
		if !ok {
			t.Errorf("%s %s is not described", e.Method, e.Path)
			continue
		}
		hasScope := strings.Contains(string(op), `"security"`)
		if hasScope != (e.Scope != "") || e.Scope != "" && !strings.Contains(string(op), `"bearer":["`+e.Scope+`"]`) {
			t.Errorf("%s %s: scope %q, operation %s", e.Method, e.Path, e.Scope, op)
		}
	}
	if _, ok := doc.Paths["/api/v1/{collection}/{key}"]["head"]; !ok {
		t.Error("HEAD of a key is not described")
	}
	if !strings.Contains(string(doc.Paths["/debug/pprof/"]["servers"]), "pprof.listen") {
		t.Errorf("pprof is not described on the admin listener: %s", doc.Paths["/debug/pprof/"]["servers"])
	}
	checkRefs(t, raw)

	mem, _ := build(t, Input{Manifest: m, Features: []string{"memory"}, Version: "v1"})
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		if _, ok := mem.Paths[p]; ok {
			t.Errorf("a build of memory alone describes %s", p)
		}
	}
	if _, ok := mem.Paths["/api/v1/_batch"]; !ok {
		t.Error("a build of memory alone does not describe the core's endpoints")
	}
}

// TestServedPaths: a running server's document describes a feature's
// endpoint where the options put it, and only when it is served.
func TestServedPaths(t *testing.T) {
	m := loadManifest(t)
	setting := func(k string) string {
		if k == "prometheus.path" {
			return "/prom"
		}
		return ""
	}
	doc, _ := build(t, Input{Manifest: m, Features: []string{"memory", "prometheus"}, Setting: setting, Served: []string{"/prom"}})
	if _, ok := doc.Paths["/prom"]["get"]; !ok {
		t.Errorf("the moved metrics endpoint is not described: %v", slices.Sorted(maps.Keys(doc.Paths)))
	}
	if _, ok := doc.Paths["/metrics"]; ok {
		t.Error("/metrics is described where it is not served")
	}
	if !strings.Contains(string(doc.Paths["/prom"]["get"]), `"operationId":"metrics"`) {
		t.Errorf("the moved endpoint lost its details: %s", doc.Paths["/prom"]["get"])
	}
	off, _ := build(t, Input{Manifest: m, Features: []string{"memory", "prometheus"}, Served: []string{}})
	if _, ok := off.Paths["/metrics"]; ok {
		t.Error("/metrics is described while prometheus serves nothing (prometheus.enabled: false)")
	}
}

// TestForeignEndpoint: an endpoint of a feature from another module, which
// has no details here, is described from its table entry.
func TestForeignEndpoint(t *testing.T) {
	m := loadManifest(t)
	m.Features = append(m.Features, manifest.Feature{Name: "acme", Endpoints: []manifest.Endpoint{
		{Method: "GET", Path: "/acme/status", Scope: "read", Description: "ACME's own status."}}})
	doc, raw := build(t, Input{Manifest: m, Features: []string{"acme"}})
	op := string(doc.Paths["/acme/status"]["get"])
	if !strings.Contains(op, "ACME's own status.") || !strings.Contains(op, `"bearer":["read"]`) {
		t.Errorf("foreign endpoint: %s", op)
	}
	checkRefs(t, raw)
}

// checkRefs: every $ref points at a component the document has.
func checkRefs(t *testing.T, raw []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	comps := doc["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(r, "#/components/"), "/")
				kind, _ := comps[parts[0]].(map[string]any)
				if len(parts) != 2 || kind[parts[1]] == nil {
					t.Errorf("$ref %s points at nothing", r)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}
