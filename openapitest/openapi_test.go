package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

func init() {
	// A watch stream is text: the validator reads what the test read of it.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// load parses and validates a document as OpenAPI 3.1.
func load(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	return doc
}

func fetch(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// call is one request of the walk through the API, with the status it
// must get.
type call struct {
	name         string
	method, path string
	header       []string
	body         string
	token        string
	status       int
	admin        bool // on the admin listener
}

// Tokens by scope (at least 16 characters each).
const (
	rd  = "rd-0123456789abcdef"
	wr  = "wr-0123456789abcdef"
	m   = "mt-0123456789abcdef"
	adm = "ad-0123456789abcdef"
)

var tokens = []string{"NAVIUS_AUTH_TOKENS=read:" + rd + ",write:" + wr + ",metrics:" + m + ",admin:" + adm}

// TestServedDocument runs a build of every feature and checks, with
// kin-openapi, that its /openapi.json is valid OpenAPI 3.1 and that every
// answer it gives to a walk through the API (successes and errors) is one
// the document describes, headers and bodies included. Every operation
// described must be walked (else this test is out of date), and every
// request of the walk must find its operation (else the server serves
// something the document does not describe).
func TestServedDocument(t *testing.T) {
	bin := buildNavius(t, "all")
	env := append([]string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_SERVER_MAX_BODY_BYTES=128", "NAVIUS_WATCH_MAX_WATCHERS=1", "NAVIUS_LOG_ACCESS=false"}, tokens...)
	p := startNavius(t, bin, env, "--pprof-listen", "127.0.0.1:0")
	raw := fetch(t, p.URL+"/openapi.json", "")
	doc := load(t, raw)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	stale := `{"operations":[{"op":"put","collection":"pets","key":"x","value":"1","if_match":"0000000000000001"}]}`
	calls := []call{
		{name: "put", method: "PUT", path: "/api/v1/pets/tom", body: `{"kind":"cat"}`, token: wr, status: 204},
		{name: "put with ttl", method: "PUT", path: "/api/v1/pets/fly?ttl=1h", body: "x", token: wr, status: 204},
		{name: "create-only over an entry", method: "PUT", path: "/api/v1/pets/tom", header: []string{"If-None-Match", "*"}, body: "y", token: wr, status: 412},
		{name: "put with a bad ttl", method: "PUT", path: "/api/v1/pets/tom?ttl=soon", body: "y", token: wr, status: 400},
		{name: "put too large", method: "PUT", path: "/api/v1/pets/big", body: strings.Repeat("x", 200), token: wr, status: 413},
		{name: "put without a token", method: "PUT", path: "/api/v1/pets/tom", body: "y", status: 401},
		{name: "put with a read token", method: "PUT", path: "/api/v1/pets/tom", body: "y", token: rd, status: 403},
		{name: "get", method: "GET", path: "/api/v1/pets/tom", token: rd, status: 200},
		{name: "get absent", method: "GET", path: "/api/v1/pets/nobody", token: rd, status: 404},
		{name: "get with a failing If-Match", method: "GET", path: "/api/v1/pets/tom", header: []string{"If-Match", `"0000000000000001"`}, token: rd, status: 412},
		{name: "head", method: "HEAD", path: "/api/v1/pets/tom", token: rd, status: 200},
		{name: "head absent", method: "HEAD", path: "/api/v1/pets/nobody", token: rd, status: 404},
		{name: "list", method: "GET", path: "/api/v1/pets?limit=1", token: rd, status: 200},
		{name: "list with a bad limit", method: "GET", path: "/api/v1/pets?limit=0", token: rd, status: 400},
		{name: "batch", method: "POST", path: "/api/v1/_batch", header: []string{"Content-Type", "application/json"},
			body: `{"operations":[{"op":"put","collection":"pets","key":"a","value":"1"},{"op":"delete","collection":"pets","key":"b"}]}`, token: wr, status: 200},
		{name: "batch with a stale if_match", method: "POST", path: "/api/v1/_batch", header: []string{"Content-Type", "application/json"}, body: stale, token: wr, status: 412},
		{name: "batch with a duplicate key", method: "POST", path: "/api/v1/_batch", header: []string{"Content-Type", "application/json"},
			body: `{"operations":[{"op":"delete","collection":"pets","key":"a"},{"op":"delete","collection":"pets","key":"a"}]}`, token: wr, status: 400},
		{name: "delete", method: "DELETE", path: "/api/v1/pets/fly", token: wr, status: 204},
		{name: "delete absent", method: "DELETE", path: "/api/v1/pets/fly", token: wr, status: 404},
		{name: "delete with a malformed If-Match", method: "DELETE", path: "/api/v1/pets/tom", header: []string{"If-Match", "nope"}, token: wr, status: 400},
		{name: "watch with a bad value", method: "GET", path: "/api/v1/pets?watch=2", token: rd, status: 400},
		{name: "health", method: "GET", path: "/health", status: 200},
		{name: "health, IETF format", method: "GET", path: "/health", header: []string{"Accept", "application/health+json"}, status: 200},
		{name: "livez", method: "GET", path: "/livez?verbose", status: 200},
		{name: "readyz", method: "GET", path: "/readyz", status: 200},
		{name: "info", method: "GET", path: "/info", token: adm, status: 200},
		{name: "info with a read token", method: "GET", path: "/info", token: rd, status: 403},
		{name: "openapi.json", method: "GET", path: "/openapi.json", status: 200},
		{name: "metrics", method: "GET", path: "/metrics", token: m, status: 200},
		{name: "pprof", method: "GET", path: "/debug/pprof/", token: adm, status: 200, admin: true},
	}
	walked := map[*openapi3.Operation]bool{}
	for _, c := range calls {
		op := check(t, p, doc, router, c, nil)
		if op != nil && c.status < 300 {
			walked[op] = true
		}
	}

	// The watch: its stream's headers and first event as described, and a
	// second watcher over watch.max_watchers (1) gets the described 503.
	var watched []byte
	op := check(t, p, doc, router, call{name: "watch", method: "GET", path: "/api/v1/pets?watch=1", token: rd, status: 200}, func(r *bufio.Reader) []byte {
		check(t, p, doc, router, call{name: "watch over the maximum", method: "GET", path: "/api/v1/pets?watch=1", token: rd, status: 503}, nil)
		check(t, p, doc, router, call{name: "put while watched", method: "PUT", path: "/api/v1/pets/w", body: "watched", token: wr, status: 204}, nil)
		var read bytes.Buffer
		for !strings.HasSuffix(read.String(), "}\n\n") {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v after %q", err, read.String())
			}
			read.WriteString(line)
		}
		watched = read.Bytes()
		return watched
	})
	walked[op] = true
	if watched != nil {
		checkEvent(t, doc, watched)
	}

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !walked[op] {
				t.Errorf("%s %s is described but this walk never got a success from it: add a call", method, path)
			}
		}
	}
	p.stop(t)
}

// check makes one call, finds its operation in the document, and validates
// the request and the answer against it; stream, when set, reads a prefix
// of the body (a watch stream). It returns the operation.
func check(t *testing.T, p *naviusProc, doc *openapi3.T, router routers.Router, c call, stream func(*bufio.Reader) []byte) *openapi3.Operation {
	t.Helper()
	base := p.URL
	if c.admin {
		base = p.Admin
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, _ := http.NewRequest(c.method, base+c.path, body)
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	if c.body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	route, pathParams, err := findRoute(doc, router, req, c.admin)
	if err != nil {
		t.Errorf("%s: %s %s is not described: %v", c.name, c.method, c.path, err)
		return nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, SkipSettingDefaults: true}}
	if c.body != "" {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(c.body)), nil }
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && c.status < 400 {
		t.Errorf("%s: the request does not match the document: %v", c.name, err)
	}
	if c.body != "" {
		req.Body = io.NopCloser(strings.NewReader(c.body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	var got []byte
	if stream != nil {
		if resp.StatusCode == 200 {
			got = stream(bufio.NewReader(resp.Body))
		}
	} else {
		got, _ = io.ReadAll(resp.Body)
	}
	if resp.StatusCode != c.status {
		t.Errorf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, resp.StatusCode, got, c.status)
		return route.Operation
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(got)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s: the answer %d does not match the document: %v\n%s", c.name, resp.StatusCode, err, got)
	}
	return route.Operation
}

// findRoute routes an API request by the document; a request to the admin
// listener is matched by path among the operations described there.
func findRoute(doc *openapi3.T, router routers.Router, req *http.Request, admin bool) (*routers.Route, map[string]string, error) {
	if !admin {
		// The document's server is "/": route the request as if to it.
		r := req.Clone(req.Context())
		r.URL.Scheme, r.URL.Host, r.Host = "", "", ""
		return router.FindRoute(r)
	}
	item := doc.Paths.Find(req.URL.Path)
	if item == nil || len(item.Servers) == 0 || item.GetOperation(req.Method) == nil {
		return nil, nil, os.ErrNotExist
	}
	return &routers.Route{Spec: doc, Path: req.URL.Path, PathItem: item, Method: req.Method, Operation: item.GetOperation(req.Method)}, nil, nil
}

// checkEvent validates a watch event's data against the schema the
// document names for its kind (x-navius-events).
func checkEvent(t *testing.T, doc *openapi3.T, stream []byte) {
	t.Helper()
	op := doc.Paths.Find("/api/v1/{collection}").Get
	mt := op.Responses.Status(200).Value.Content.Get("text/event-stream")
	events, _ := mt.Extensions["x-navius-events"].(map[string]any)
	var name, data string
	for _, line := range strings.Split(string(stream), "\n") {
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = v
		}
	}
	ref, _ := events[name].(map[string]any)
	schemaName := strings.TrimPrefix(ref["$ref"].(string), "#/components/schemas/")
	schema := doc.Components.Schemas[schemaName]
	if name != "put" || schema == nil {
		t.Fatalf("the stream's first event is %q (schema %q): %q", name, schemaName, stream)
	}
	var v any
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatal(err)
	}
	if err := schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("the %s event %s does not match %s: %v", name, data, schemaName, err)
	}
}

// TestBuildsDescribeThemselves: a build without prometheus and pprof
// describes neither /metrics nor pprof, and navius docs writes the same
// valid document the binary serves.
func TestBuildsDescribeThemselves(t *testing.T) {
	bin := buildNavius(t, "memory,builder")
	p := startNavius(t, bin, []string{"NAVIUS_LOG_ACCESS=false"})
	served := fetch(t, p.URL+"/openapi.json", "")
	doc := load(t, served)
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if doc.Paths.Find(path) != nil {
			t.Errorf("a build of memory and builder describes %s", path)
		}
	}
	var paths []string
	for path := range doc.Paths.Map() {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	if !slices.Contains(paths, "/api/v1/{collection}/{key}") || !slices.Contains(paths, "/openapi.json") {
		t.Errorf("described paths: %v", paths)
	}
	p.stop(t)

	dir := t.TempDir()
	cmd := exec.Command(bin, "docs", "--output", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("navius docs: %v\n%s", err, out)
	}
	written, err := os.ReadFile(filepath.Join(dir, "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	load(t, written)
	if !bytes.Equal(written, served) {
		t.Errorf("navius docs wrote another document than the binary serves with its default options")
	}
}
