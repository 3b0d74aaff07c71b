package server

import (
	"net/http"
	"strings"

	"github.com/navius-dev/navius/internal/limits"
)

// essentialPaths are the requests served whatever the load: the probes
// (and the metrics endpoints, added by New). They are never shed, and they
// are what a connection of the probes' reserve may serve.
var essentialPaths = []string{"/livez", "/readyz", "/health"}

// admit applies the bounds on load before a request is served. A
// connection accepted into the probes' reserve (the listener held
// server.max_connections) serves an essential request and then closes;
// anything else on it gets 503. Other requests need one of the
// server.max_inflight places, except essential ones and watch streams
// (long-lived, bounded by watch.max_watchers instead). held reports that a
// place was taken (Inflight.Release it); ok false means the request was
// answered.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (held, ok bool) {
	essential := s.essential[r.URL.Path]
	if limits.Reserved(r.Context()) {
		w.Header().Set("Connection", "close")
		if !essential {
			s.shedConnections.Add(1)
			w.Header().Set("Retry-After", "1")
			writeError(w, r, http.StatusServiceUnavailable, "overloaded",
				"the server holds as many connections as it may (server.max_connections); this one serves health probes only: retry in a second, on a new connection")
			return false, false
		}
		return false, true
	}
	if s.Inflight == nil || essential || isWatch(r) {
		return false, true
	}
	if !s.Inflight.Acquire() {
		w.Header().Set("Retry-After", "1")
		writeError(w, r, http.StatusServiceUnavailable, "overloaded",
			"the server is serving as many requests as it may at once (server.max_inflight): retry in a second")
		return false, false
	}
	return true, true
}

// isWatch reports whether r asks for a watch stream (GET
// /api/v1/{collection}?watch=1).
func isWatch(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.RawQuery, "watch") &&
		strings.HasPrefix(r.URL.Path, "/api/v1/") && r.URL.Query().Has("watch")
}

// Shed counts the requests refused under load: for lack of a place among
// server.max_inflight, and on a connection of the probes' reserve.
func (s *Server) Shed() (inflight, connections uint64) {
	return s.Inflight.Shed(), s.shedConnections.Load()
}
