package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers/memory"
)

// FuzzAPI sends arbitrary methods, paths (collection and key names, query
// strings with filters, limits and cursors), bodies and headers through the
// whole handler: no request may panic (the middleware would turn it into a
// 500) or get a 5xx from the in-memory backend, and every error is JSON.
func FuzzAPI(f *testing.F) {
	seeds := []struct{ method, path, body, reqID, accept string }{
		{"PUT", "/api/v1/pets/tom", `{"kind":"cat"}`, "", ""},
		{"GET", "/api/v1/pets/tom", "", "abc", ""},
		{"GET", "/api/v1/pets?filter=cat&limit=2&cursor=", "", "", ""},
		{"GET", "/api/v1/pets?cursor=dG9t&limit=1", "", "", ""},
		{"GET", "/api/v1/pets?cursor=%FF%FE&limit=-1", "", "", ""},
		{"DELETE", "/api/v1/pets/tom", "", "x y", ""},
		{"GET", "/health", "", "", "application/health+json"},
		{"GET", "/readyz?verbose", "", "", ""},
		{"PATCH", "/api/v1/a/b", "", "", ""},
		{"GET", "/api/v1/%00/%2F", "", "", ""},
		{"PUT", "/api/v1/c/" + strings.Repeat("k", 600), "", "", ""},
		{"GET", "/../../etc/passwd", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body, s.reqID, s.accept)
	}
	cache, _ := memory.NewCache(1<<20, 0)
	st := store.New(memory.NewDatabase(), cache, store.Options{Timeout: time.Second})
	hs := health.New(time.Second, time.Second, "v1")
	hs.Add(health.Database(st, "memory"))
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	s := New(Deps{Store: st, Health: hs, Log: log, Info: map[string]any{}, Version: "v1", MaxBody: 4096})
	s.SetReady(true)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, method, path, body, reqID, accept string) {
		req, err := http.NewRequest(method, "http://navius"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("X-Request-ID", reqID)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, rec.Code, rec.Body.String())
		}
		if id := rec.Header().Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \t\r\n") {
			t.Fatalf("bad response request ID %q", id)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") == "application/json" {
			var e apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %q: error body %q is not a JSON error", method, path, rec.Body.String())
			}
		}
	})
}
