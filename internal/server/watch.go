package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/navius-dev/navius/internal/watch"
)

// watch serves GET /api/v1/{collection}?watch=1[&prefix=]: the collection's
// changes as Server-Sent Events (internal/watch).
func (s *Server) watch(w http.ResponseWriter, r *http.Request, coll string, qs url.Values) {
	if s.Watch == nil {
		writeError(w, r, http.StatusNotImplemented, "not_implemented", "watching is off on this server (watch.max_watchers is 0)")
		return
	}
	if v := qs.Get("watch"); v != "1" && v != "true" {
		writeError(w, r, http.StatusBadRequest, "invalid_watch", fmt.Sprintf("watch=%.20q: use watch=1 to stream the collection's changes, or leave it out to list", v))
		return
	}
	for k := range qs {
		if k != "watch" && k != "prefix" {
			writeError(w, r, http.StatusBadRequest, "invalid_watch", fmt.Sprintf("%.40s does not go with watch=1, which takes prefix= only (list with filter, limit and cursor)", k))
			return
		}
	}
	prefix := qs.Get("prefix")
	if prefix != "" && !validName(prefix, maxKey, "_.:@~+=-") {
		writeError(w, r, http.StatusBadRequest, "invalid_prefix",
			fmt.Sprintf("prefix %.80q is invalid: use up to 512 letters, digits or any of _.:@~+=-, as keys do", prefix))
		return
	}
	sub, err := s.Watch.Subscribe(watch.Request{Collection: coll, Prefix: prefix, LastEventID: r.Header.Get("Last-Event-ID")})
	switch {
	case errors.Is(err, watch.ErrTooManyWatchers):
		w.Header().Set("Retry-After", "5")
		writeError(w, r, http.StatusServiceUnavailable, "too_many_watchers",
			"this instance already serves its maximum of watch streams (watch.max_watchers): retry later or on another instance")
		return
	case err != nil:
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "watching is not available: "+err.Error())
		return
	}
	sub.Serve(w, r)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.OpenAPI)
}
