// Package server is navius's HTTP layer: the key-value API over the database
// service, health endpoints and /info, on the standard library mux.
package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/internal/watch"
	"github.com/navius-dev/navius/providers"
)

// Deps are what the server serves.
type Deps struct {
	Store  *store.Store
	Health *health.Service
	Log    *logrus.Logger
	// Info is the /info document.
	Info any
	// Version goes into health responses.
	Version string
	// MaxBody is the largest PUT body in bytes.
	MaxBody int64
	// MaxTTL bounds a write's ttl; 0: no bound.
	MaxTTL time.Duration
	// MaxPageBytes bounds a list page's keys and values (the page ends
	// early, with a cursor); 0: no bound.
	MaxPageBytes int64
	// MaxBatchOps and MaxBatchBytes bound a batch (413 above them).
	MaxBatchOps   int
	MaxBatchBytes int64
	// Access, when set, logs one line per request (logging.AccessLog).
	Access *logging.AccessLog
	// Auth checks bearer tokens; nil means authentication is off.
	Auth *auth.Authenticator
	// Routes are extra endpoints by ServeMux pattern (e.g. Prometheus's
	// /metrics), served beside the API; they need the metrics scope (or
	// admin), so that a scraper's token cannot touch data.
	Routes map[string]http.Handler
	// Instrument, when set, wraps the mux (metrics and spans per request).
	Instrument func(http.Handler) http.Handler
	// Watch serves GET /api/v1/{collection}?watch=1; nil: watching is off.
	Watch *watch.Hub
	// OpenAPI, when set, is served at /openapi.json.
	OpenAPI []byte
	// Inflight bounds the requests served at once (server.max_inflight);
	// nil: no bound.
	Inflight *limits.Inflight
}

// Server serves the API. Create it with New.
type Server struct {
	Deps
	ready   atomic.Bool
	handler http.Handler
	frame   *frame
	routes  []Route
	// essential are the paths never shed (admission.go).
	essential       map[string]bool
	shedConnections atomic.Uint64
}

// New builds the server; it starts not ready.
func New(d Deps) *Server {
	s := &Server{Deps: d}
	s.frame = newFrame(d.Log, d.Access)
	s.frame.admit, s.frame.inflight = s.admit, d.Inflight
	s.essential = map[string]bool{}
	for _, p := range essentialPaths {
		s.essential[p] = true
	}

	mux := http.NewServeMux()
	s.handle(mux, "/api/v1/{collection}/{key}", methods{
		http.MethodGet:    s.Require(auth.Read, s.getKey),
		http.MethodPut:    s.Require(auth.Write, s.putKey),
		http.MethodDelete: s.Require(auth.Write, s.deleteKey),
	})
	s.handle(mux, "/api/v1/{collection}", methods{http.MethodGet: s.Require(auth.Read, s.query)})
	s.handle(mux, "/api/v1/_batch", methods{http.MethodPost: s.Require(auth.Write, s.batch)})
	s.handle(mux, "/health", methods{http.MethodGet: s.health}) // details only when authorized
	s.handle(mux, "/livez", methods{http.MethodGet: s.livez})   // probes stay open
	s.handle(mux, "/readyz", methods{http.MethodGet: s.readyz})
	s.handle(mux, "/info", methods{http.MethodGet: s.Require(auth.Admin, s.info)})
	if d.OpenAPI != nil {
		s.handle(mux, "/openapi.json", methods{http.MethodGet: s.openAPI})
	}
	for pattern, h := range d.Routes {
		if method, path, ok := strings.Cut(pattern, " "); ok { // the mux's own 405 is plain text
			s.handle(mux, path, methods{method: s.Require(auth.Metrics, h.ServeHTTP)})
			s.essential[path] = true
			continue
		}
		s.routes = append(s.routes, Route{http.MethodGet, pattern})
		mux.Handle(pattern, s.Require(auth.Metrics, h.ServeHTTP))
		s.essential[pattern] = true
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %.80q; see /info and the API reference", r.URL.Path))
	})
	h := cleanPaths(mux)
	if d.Instrument != nil {
		// Inside the request-ID middleware, so that the instrumentation
		// sees the request the mux serves (and its matched pattern).
		h = d.Instrument(h)
	}
	s.handler = s.frame.wrap(h)
	return s
}

// Route is a method and mux pattern the server serves (HEAD is served
// wherever GET is).
type Route struct{ Method, Pattern string }

// Routes lists what the server serves, beside its catch-all 404: what
// /openapi.json must describe.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

func (s *Server) handle(mux *http.ServeMux, pattern string, h methods) {
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
		if h[m] != nil {
			s.routes = append(s.routes, Route{m, pattern})
		}
	}
	mux.Handle(pattern, h)
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// SetReady switches readiness: false until startup finishes and again once
// shutdown begins.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// methods dispatches by method, answering others with a JSON 405 (the mux's
// own 405 is plain text). HEAD is served by GET.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := m[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = m[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(m))
		for _, k := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
			if m[k] != nil {
				allow = append(allow, k)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%.20q is not allowed on %.80q; use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	h(w, r)
}

// Name rules, checked byte by byte: a bounded regexp such as {1,512}
// compiles into hundreds of states and cost milliseconds at startup.
const (
	maxCollection = 64
	maxKey        = 512
	maxRequestID  = 128
)

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// validName reports whether s is 1..maxLen bytes, each alphanumeric or in
// extra.
func validName(s string, maxLen int, extra string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && strings.IndexByte(extra, c) < 0 {
			return false
		}
	}
	return true
}

// validCollection: 1-64 of [A-Za-z0-9_.-], starting with a letter or digit.
func validCollection(s string) bool {
	return validName(s, maxCollection, "_.-") && alnum(s[0])
}

// validKey: 1-512 of [A-Za-z0-9_.:@~+=-{}], and not "." or "..". Braces
// make a hash tag: on Redis Cluster, keys of a collection with the same
// text in braces share a slot, and so can share an atomic batch.
func validKey(s string) bool { return validName(s, maxKey, keyChars) && s != "." && s != ".." }

// keyChars are the characters a key may hold besides letters and digits.
const keyChars = "_.:@~+=-{}"

// validRequestID: 1-128 of [A-Za-z0-9_.:-].
func validRequestID(s string) bool { return validName(s, maxRequestID, "_.:-") }

// names validates the path's collection and key; it writes a 400 and returns
// false when either is bad.
func names(w http.ResponseWriter, r *http.Request, withKey bool) (coll, key string, ok bool) {
	coll = r.PathValue("collection")
	if !validCollection(coll) {
		writeError(w, r, http.StatusBadRequest, "invalid_collection",
			fmt.Sprintf("collection name %.80q is invalid: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", coll))
		return "", "", false
	}
	if !withKey {
		return coll, "", true
	}
	key = r.PathValue("key")
	if !validKey(key) {
		writeError(w, r, http.StatusBadRequest, "invalid_key",
			fmt.Sprintf("key %.80q is invalid: use 1-512 letters, digits or any of "+keyChars, key))
		return "", "", false
	}
	return coll, key, true
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) {
	coll, key, ok := names(w, r, true)
	if !ok {
		return
	}
	e, err := s.Store.Get(r.Context(), coll, key)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	h := w.Header() // canonical keys, set directly: no conversion per request
	if e.Version != "" {
		h["Etag"] = []string{quoteETag(e.Version)}
		if len(r.Header["If-Match"])+len(r.Header["If-None-Match"]) > 0 && !s.readPrecondition(w, r, e) {
			return
		}
	}
	h["Content-Type"] = octetStream
	h["Content-Length"] = []string{strconv.Itoa(len(e.Value))}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Value)
	}
}

// readPrecondition evaluates a GET's If-Match (412 when it fails) and
// If-None-Match (304 when it matches, by the weak comparison), in RFC 9110
// section 13.2.2's order; it reports whether to send the value.
func (s *Server) readPrecondition(w http.ResponseWriter, r *http.Request, e providers.Entry) bool {
	im, err := parseETags(r.Header, "If-Match")
	if err == nil && im.present && !im.matchStrong(true, e.Version) {
		preconditionFailed(w, r, &providers.PreconditionError{Exists: true, Version: e.Version}, providers.Condition{})
		return false
	}
	inm, err2 := parseETags(r.Header, "If-None-Match")
	if err = errors.Join(err, err2); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_precondition", err.Error())
		return false
	}
	if inm.present && inm.matchWeak(true, e.Version) {
		w.WriteHeader(http.StatusNotModified)
		return false
	}
	return true
}

// octetStream is the Content-Type of values, shared by every response:
// its capacity of one makes an Add copy it rather than write into it.
var octetStream = []string{"application/octet-stream"}[:1:1]

func (s *Server) putKey(w http.ResponseWriter, r *http.Request) {
	coll, key, ok := names(w, r, true)
	if !ok {
		return
	}
	var write providers.Write
	if !s.writeOptions(w, r, &write.Condition, &write.TTL) {
		return
	}
	body, ok := readBody(w, r, s.MaxBody, s.tooLarge)
	if !ok {
		return
	}
	version, err := s.Store.Put(r.Context(), coll, key, body, write)
	var pe *providers.PreconditionError
	switch {
	case errors.As(err, &pe):
		preconditionFailed(w, r, pe, write.Condition)
		return
	case err != nil:
		s.storeError(w, r, err)
		return
	}
	if version != "" {
		w.Header()["Etag"] = []string{quoteETag(version)}
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeOptions reads a write's preconditions and, when ttl is not nil, its
// ttl parameter; it answers 400 and returns false when one is malformed.
func (s *Server) writeOptions(w http.ResponseWriter, r *http.Request, cond *providers.Condition, ttl *time.Duration) bool {
	var err error
	if *cond, err = writeCondition(r.Header); err != nil {
		writeError(w, r, http.StatusBadRequest, "invalid_precondition", err.Error())
		return false
	}
	if r.URL.RawQuery == "" {
		return true
	}
	if t, ok := r.URL.Query()["ttl"]; ok {
		if ttl == nil {
			writeError(w, r, http.StatusBadRequest, "invalid_ttl", "ttl applies to PUT only")
			return false
		}
		if *ttl, err = parseTTL(t[0], s.MaxTTL); err != nil {
			writeError(w, r, http.StatusBadRequest, "invalid_ttl", err.Error())
			return false
		}
	}
	return true
}

// readBody reads a request body of at most limit bytes. A larger one is
// answered by tooLarge, whether its Content-Length says so up front or it
// turns out larger as it is read (a chunked body); a failed read is a 400.
// It reports whether there is a body to act on.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, tooLarge http.HandlerFunc) ([]byte, bool) {
	if r.ContentLength > limit {
		tooLarge(w, r)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge(w, r)
			return nil, false
		}
		writeError(w, r, http.StatusBadRequest, "bad_body", "reading the request body failed: "+err.Error())
		return nil, false
	}
	return body, true
}

func (s *Server) tooLarge(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusRequestEntityTooLarge, "payload_too_large",
		fmt.Sprintf("the value exceeds the %d-byte limit (server.max_body_bytes)", s.MaxBody))
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	coll, key, ok := names(w, r, true)
	if !ok {
		return
	}
	var cond providers.Condition
	if !s.writeOptions(w, r, &cond, nil) {
		return
	}
	existed, err := s.Store.Delete(r.Context(), coll, key, cond)
	var pe *providers.PreconditionError
	switch {
	case errors.As(err, &pe) && pe.Exists:
		preconditionFailed(w, r, pe, cond)
		return
	case errors.As(err, &pe): // RFC 9110 13.2.1: a DELETE of nothing is a 404, whatever its preconditions
		existed, err = false, nil
	case err != nil:
		s.storeError(w, r, err)
		return
	}
	if !existed {
		writeError(w, r, http.StatusNotFound, "not_found", "no such key")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	coll, _, ok := names(w, r, false)
	if !ok {
		return
	}
	qs := r.URL.Query()
	if _, ok := qs["watch"]; ok {
		s.watch(w, r, coll, qs)
		return
	}
	q := providers.Query{Filter: qs.Get("filter"), Cursor: qs.Get("cursor"), MaxBytes: s.MaxPageBytes}
	if l := qs.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > providers.MaxLimit {
			writeError(w, r, http.StatusBadRequest, "invalid_limit",
				fmt.Sprintf("limit %.20q is invalid: use an integer from 1 to %d", l, providers.MaxLimit))
			return
		}
		q.Limit = n
	}
	page, err := s.Store.Query(r.Context(), coll, q)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writePage(w, page)
}

// printable reports whether a value goes into JSON as text: UTF-8 without
// control characters other than tab, newline and carriage return, which
// JSON would escape to six bytes each (binary data comes as base64, a third
// larger, never six times).
func printable(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r < 0xa0 {
			return false
		}
		i += n
	}
	return true
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	rep := s.Health.Check(r.Context())
	status := http.StatusOK
	if rep.Status != providers.StatusUp {
		status = http.StatusServiceUnavailable
	}
	details := s.Auth.Authenticated(r) // Actuator's show-components: when-authorized
	if strings.Contains(r.Header.Get("Accept"), "application/health+json") {
		writeJSONType(w, status, "application/health+json", rep.IETF("navius", s.Version, details))
		return
	}
	writeJSON(w, status, rep.Actuator(details))
}

func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		_, _ = io.WriteString(w, "[+]ping ok\nlivez check passed\n")
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	_, verbose := r.URL.Query()["verbose"]
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		if verbose {
			_, _ = io.WriteString(w, "[-]started failed: starting up or shutting down\nreadyz check failed\n")
		} else {
			_, _ = io.WriteString(w, "not ready: starting up or shutting down")
		}
		return
	}
	rep := s.Health.Check(r.Context())
	ok, failing := rep.Ready()
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	switch {
	case verbose:
		// The reasons only for callers who see /health's components.
		_, _ = io.WriteString(w, "[+]started ok\n"+rep.Text("readyz", ok, s.Auth.Authenticated(r)))
	case ok:
		_, _ = io.WriteString(w, "ok")
	default:
		_, _ = io.WriteString(w, "not ready: "+strings.Join(failing, ", ")+" failing")
	}
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Info)
}

// Require wraps h so that it runs only for requests whose bearer token
// grants scope; others get a JSON 401 or 403 with WWW-Authenticate.
func (s *Server) Require(scope auth.Scope, h http.HandlerFunc) http.HandlerFunc {
	return Require(s.Auth, scope, h)
}

// Require is Server.Require for handlers outside the server, such as an
// admin listener's; with a nil authenticator it returns h.
func Require(a *auth.Authenticator, scope auth.Scope, h http.HandlerFunc) http.HandlerFunc {
	if a == nil {
		return h
	}
	throttle := a.Throttle()
	return func(w http.ResponseWriter, r *http.Request) {
		if wait := throttle.Wait(r); wait > 0 {
			secs := strconv.Itoa(int((wait + time.Second - 1) / time.Second))
			w.Header().Set("Retry-After", secs)
			writeError(w, r, http.StatusTooManyRequests, "too_many_failures",
				"too many failed authentications from this address: retry in "+secs+" s, with a valid token (auth.max_failures)")
			return
		}
		res := a.Check(r, scope)
		if res == auth.Missing {
			throttle.Failed(r)
		} else {
			a.Record(r, res)
		}
		switch res {
		case auth.Allowed:
			h(w, r)
		case auth.Insufficient:
			w.Header().Set("WWW-Authenticate", auth.Challenge(res, scope))
			writeError(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf(
				"this endpoint needs a token with the %s scope (or admin), which this token lacks; a token gets it from the server's config: auth.tokens %s:<token>, or auth.token_hashes %s:<its sha256>",
				scope, scope, scope))
		default:
			w.Header().Set("WWW-Authenticate", auth.Challenge(res, scope))
			msg := "authentication required: send Authorization: Bearer <token>"
			if res == auth.Invalid {
				msg = "the bearer token is not valid"
			}
			writeError(w, r, http.StatusUnauthorized, "unauthorized", msg)
		}
	}
}
