package server

import (
	"fmt"
	"net/http"
	"path"
	"strings"
)

// cleanPaths answers a request whose path is not in its clean form (with
// "..", "." or "//" segments) with a JSON 400, where the mux would redirect
// it with an HTML page: no navius endpoint has such a path, so the request
// is a probe (../../etc/passwd) or a client's mistake, and a redirect would
// only invite it to walk.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.HasPrefix(p, "/") && !isClean(p) {
			writeError(w, r, http.StatusBadRequest, "invalid_path",
				fmt.Sprintf("the path %.80q has empty, . or .. segments: send it in its clean form", p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isClean reports whether p is its own path.Clean form, but for a trailing
// slash, which the mux keeps too.
func isClean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}
