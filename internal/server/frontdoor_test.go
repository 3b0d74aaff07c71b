package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestUncleanPathsGetJSON400: a path with .., . or empty segments gets a
// JSON 400, not the mux's HTML redirect to its clean form.
func TestUncleanPathsGetJSON400(t *testing.T) {
	f := newFixture(t)
	f.do(t, "PUT", "/api/v1/pets/rex", "woof")
	for _, p := range []string{"/api/v1/pets/../../etc/passwd", "/api/v1/pets/./rex", "/api//v1/pets/rex", "/api/v1/pets/%2e%2e/rex", "/../health"} {
		resp, body := f.do(t, "GET", p, "")
		var e apiError
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "invalid_path" {
			t.Errorf("GET %s = %d %s %q", p, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	// Clean paths are untouched, a trailing slash included.
	if resp, body := f.do(t, "GET", "/api/v1/pets/rex", ""); resp.StatusCode != 200 || body != "woof" {
		t.Errorf("clean path: %d %q", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "GET", "/api/v1/pets/", ""); resp.StatusCode == http.StatusBadRequest {
		t.Error("a trailing slash was refused as unclean")
	}
}

// TestProviderRouteMethods: a provider's route with a method (Prometheus's
// "GET /metrics") answers other methods with the API's JSON 405.
func TestProviderRouteMethods(t *testing.T) {
	f := newFixture(t)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "navius_up 1\n") })
	srv := New(Deps{Store: f.srv.Store, Health: f.srv.Health, Log: f.srv.Log, MaxBody: 1024, Routes: map[string]http.Handler{"GET /metrics": metrics}})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for method, want := range map[string]int{"GET": 200, "HEAD": 200, "POST": 405, "PUT": 405, "DELETE": 405} {
		req, _ := http.NewRequest(method, ts.URL+"/metrics", strings.NewReader(""))
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s /metrics = %d, want %d", method, resp.StatusCode, want)
		}
		if want == 405 && (resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"code":"method_not_allowed"`) || resp.Header.Get("Allow") != "GET") {
			t.Errorf("%s /metrics: %s %q allow %q", method, resp.Header.Get("Content-Type"), body, resp.Header.Get("Allow"))
		}
	}
}
