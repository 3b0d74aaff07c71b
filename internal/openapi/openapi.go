// Package openapi describes navius's HTTP API as an OpenAPI 3.1 document,
// generated from the endpoint table of features.json (the one the API
// reference of navius docs comes from) for the features a build carries.
//
// What the table does not say of an operation (parameters, bodies,
// answers, the shared components) is in api.json: "operations" by "METHOD
// path", each an OpenAPI operation without its description, tags and
// security, which the table gives ("x-head" describes the HEAD a GET also
// answers), and "components". An endpoint that has none there (a feature
// from another module) is described from its table entry alone.
package openapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/navius-dev/navius/internal/manifest"
)

//go:embed api.json
var apiJSON []byte

// details are api.json, parsed anew for each document (Build adds to them).
type details struct {
	Operations map[string]obj `json:"operations"`
	Components obj            `json:"components"`
}

func loadDetails() (details, error) {
	var d details
	err := json.Unmarshal(apiJSON, &d)
	return d, err
}

// Input is what a document describes.
type Input struct {
	Manifest *manifest.Manifest
	// Features are the features compiled in: the core's endpoints and
	// theirs are described.
	Features []string
	// Version is the build's version, the document's info.version.
	Version string
	// Setting, when set, reads the options that move an endpoint
	// (manifest.Endpoint.PathOption), for a running server's document.
	Setting func(key string) string
	// Served, when not nil, are the extra routes the API listener serves
	// (the observability providers' endpoints): a feature's endpoint on
	// that listener is described only when served.
	Served []string
}

// Endpoint is a described endpoint: its feature ("core" for the core's),
// its table entry, and the path where it is served (At: the entry's Path
// unless an option moved it).
type Endpoint struct {
	Feature string
	manifest.Endpoint
	At string
}

// Endpoints lists what in describes, in table order.
func Endpoints(in Input) []Endpoint {
	var out []Endpoint
	for _, e := range in.Manifest.Core.Endpoints {
		out = append(out, Endpoint{"core", e, e.Path})
	}
	for _, f := range in.Manifest.Features {
		if !slices.Contains(in.Features, f.Name) {
			continue
		}
		for _, e := range f.Endpoints {
			at := e.Path
			if e.PathOption != "" && in.Setting != nil {
				if p := in.Setting(e.PathOption); p != "" {
					at = p
				}
			}
			if in.Served != nil && listener(e) == "api" && !slices.Contains(in.Served, at) {
				continue
			}
			out = append(out, Endpoint{f.Name, e, at})
		}
	}
	return out
}

func listener(e manifest.Endpoint) string {
	if e.Listener == "" {
		return "api"
	}
	return e.Listener
}

// Build returns the document as indented JSON.
func Build(in Input) ([]byte, error) {
	table, err := loadDetails()
	if err != nil {
		return nil, err
	}
	paths := map[string]obj{}
	for _, e := range Endpoints(in) {
		item := paths[e.At]
		if item == nil {
			item = obj{}
			paths[e.At] = item
			if listener(e.Endpoint) == "admin" {
				item["servers"] = []obj{{
					"url":         "http://{listen}",
					"description": "The admin listener, apart from the API's.",
					"variables":   obj{"listen": obj{"default": "127.0.0.1:6060", "description": "pprof.listen"}},
				}}
			}
		}
		for _, op := range operationsOf(table.Operations, e) {
			item[strings.ToLower(op.method)] = op.body
		}
	}
	doc := struct { // a struct, for the usual order of the top-level fields
		OpenAPI    string `json:"openapi"`
		Info       obj    `json:"info"`
		Servers    []obj  `json:"servers"`
		Paths      any    `json:"paths"`
		Components obj    `json:"components"`
	}{
		OpenAPI: "3.1.0",
		Info: obj{
			"title":   "navius",
			"version": in.Version,
			"description": "A key-value server whose backends are chosen at compile time. Collections hold keys; a value is opaque bytes. " +
				"With authentication on (auth.tokens or auth.token_hashes), an operation with a security requirement needs a bearer token " +
				"granting the scope it names (admin grants every scope). Every answer carries X-Request-ID; errors are JSON.",
			"license": obj{"name": "MIT", "identifier": "MIT"},
		},
		Servers:    []obj{{"url": "/", "description": "This server"}},
		Paths:      paths,
		Components: table.Components,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type obj = map[string]any

type operation struct {
	method string
	body   obj
}

// operationsOf is e's operation, from its details when it has some (and
// the HEAD beside a GET that answers it), else from its table entry alone.
func operationsOf(table map[string]obj, e Endpoint) []operation {
	op, ok := table[e.Method+" "+e.Path]
	if !ok {
		op = obj{"summary": e.Description, "responses": obj{"200": obj{"description": "Success: " + e.Description}}}
	}
	head, _ := op["x-head"].(obj)
	delete(op, "x-head")
	op["description"] = e.Description
	op["tags"] = []string{e.Feature}
	if e.Scope != "" {
		op["security"] = []obj{{"bearer": []string{e.Scope}}}
		withAuthErrors(op["responses"])
	}
	out := []operation{{e.Method, op}}
	if head != nil {
		h := maps.Clone(op)
		id, _ := op["operationId"].(string)
		h["operationId"] = id + "Head"
		h["summary"], h["responses"] = head["summary"], head["responses"]
		if e.Scope != "" {
			withAuthErrors(head["responses"])
		}
		out = append(out, operation{"HEAD", h})
	}
	return out
}

func withAuthErrors(r any) {
	responses, _ := r.(obj)
	if _, ok := responses["401"]; !ok && responses != nil {
		responses["401"] = ref("responses", "Unauthorized")
		responses["403"] = ref("responses", "Forbidden")
		responses["429"] = ref("responses", "TooManyFailures")
	}
}

func ref(kind, name string) obj { return obj{"$ref": "#/components/" + kind + "/" + name} }
