package builder

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/build"
)

// The page: plain HTML, CSS and JavaScript, no framework, no build step,
// nothing fetched from elsewhere, so it works offline.
//
//go:embed web
var webFiles embed.FS

// Request limits: a query string, a POST body, the header block.
const (
	maxQueryBytes  = 2048
	maxBodyBytes   = 4096
	maxHeaderBytes = 16 << 10
)

// routes is builder serve's HTTP API.
func (s *webServer) routes() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(webFiles, "web")
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { s.asset(w, r, assets, "index.html") })
	mux.HandleFunc("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) { s.asset(w, r, assets, r.PathValue("name")) })
	mux.HandleFunc("GET /api/catalog", s.handleCatalog)
	mux.HandleFunc("GET /api/selection", s.handleSelection)
	mux.HandleFunc("POST /api/builds", s.handleStart)
	mux.HandleFunc("GET /api/builds/{id}", s.withJob(s.handleStatus))
	mux.HandleFunc("DELETE /api/builds/{id}", s.withJob(s.handleCancel))
	mux.HandleFunc("GET /api/builds/{id}/events", s.withJob(s.handleEvents))
	mux.HandleFunc("GET /api/builds/{id}/download", s.withJob(s.handleDownload))
	mux.HandleFunc("GET /api/builds/{id}/sbom", s.withJob(s.handleSBOM))
	mux.HandleFunc("GET /download", s.handleScriptDownload)
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	return limitRequests(mux)
}

// limitRequests refuses a long query string and bounds request bodies.
func limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.URL.RawQuery); n > maxQueryBytes {
			writeError(w, r, &requestError{status: http.StatusRequestURITooLong,
				msg: fmt.Sprintf("the query string has %d bytes; this builder takes at most %d: name fewer features", n, maxQueryBytes)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func (s *webServer) asset(w http.ResponseWriter, r *http.Request, assets fs.FS, name string) {
	data, err := fs.ReadFile(assets, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(data)))
}

// writeError answers bad input and refusals: JSON for the API, one line of
// text for /download.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, err.Error()
	var re *requestError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		status = re.status
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is over %d bytes: send only features, platform and artifact", mbe.Limit)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "30")
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintln(w, "navius builder: "+msg)
		return
	}
	writeJSON(w, status, map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// allowed checks the bearer token for scope when tokens are configured,
// and answers the refusal when it fails.
func (s *webServer) allowed(w http.ResponseWriter, r *http.Request, scope auth.Scope) bool {
	res := s.auth.Check(r, scope)
	if res == auth.Allowed {
		return true
	}
	w.Header().Set("WWW-Authenticate", auth.Challenge(res, scope))
	status, msg := http.StatusUnauthorized, fmt.Sprintf("this builder needs a bearer token with the %s scope (Authorization: Bearer TOKEN)", scope)
	switch res {
	case auth.Invalid:
		msg = "the bearer token is not valid"
	case auth.Insufficient:
		status, msg = http.StatusForbidden, fmt.Sprintf("the bearer token lacks the %s scope", scope)
	}
	s.metrics.add(&s.metrics.refused, 1)
	writeError(w, r, &requestError{status: status, msg: msg})
	return false
}

// client names who asks, for the per-client limit: the token when one is
// given, else the address.
func client(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		sum := sha256.Sum256([]byte(h))
		return "token " + hex.EncodeToString(sum[:4])
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// params reads the parameters from the query (and a form body), refusing
// any name outside allowed and any given twice.
func params(r *http.Request, allowed ...string) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badRequest("the request's parameters do not parse: %v", err)
	}
	for name, vs := range r.Form {
		if !slices.Contains(allowed, name) {
			return nil, badRequest("unknown parameter %q: this endpoint takes %s", name, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, badRequest("parameter %q is given %d times: give it once (a comma list for features)", name, len(vs))
		}
	}
	return r.Form, nil
}

func (s *webServer) handleCatalog(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.catalogJSON())
}

// handleSelection resolves a selection for the page: what it selects, the
// requirements added, why not, its size, and its CLI equivalents.
func (s *webServer) handleSelection(w http.ResponseWriter, r *http.Request) {
	v, err := params(r, "features", "platform", "artifact")
	if err != nil {
		writeError(w, r, err)
		return
	}
	sel, err := s.resolve(v.Get("features"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	sel.Make, sel.Command = s.commands(sel, v.Get("platform"), v.Get("artifact"))
	writeJSON(w, http.StatusOK, sel)
}

// buildParams checks a build request: the features, a platform this
// builder offers and an artefact kind.
func (s *webServer) buildParams(r *http.Request) (buildRequest, error) {
	if s.t == nil {
		return buildRequest{}, &requestError{status: http.StatusServiceUnavailable, msg: s.noSource}
	}
	v, err := params(r, "features", "platform", "artifact")
	if err != nil {
		return buildRequest{}, err
	}
	spec := v.Get("features")
	if strings.TrimSpace(spec) == "" {
		spec = "default"
	}
	sel, err := s.resolve(spec)
	if err != nil {
		return buildRequest{}, err
	}
	platform, artifact := v.Get("platform"), v.Get("artifact")
	if platform == "" {
		platform = build.HostPlatform()
	}
	if artifact == "" {
		artifact = "binary"
	}
	if !slices.Contains(platforms, platform) {
		return buildRequest{}, badRequest("platform %q is not one this builder offers: %s", platform, strings.Join(platforms, ", "))
	}
	if !slices.ContainsFunc(artifactKinds, func(k apiArtifactKind) bool { return k.Name == artifact }) {
		return buildRequest{}, badRequest("artifact %q: choose binary, archive or image", artifact)
	}
	if artifact == "image" && !strings.HasPrefix(platform, "linux/") {
		return buildRequest{}, badRequest("an image is for a Linux platform, not %s: choose linux/amd64 or linux/arm64, or another artifact", platform)
	}
	return buildRequest{sel: sel, platform: platform, artifact: artifact, key: s.cacheKey(sel, platform, artifact), client: client(r)}, nil
}

// start answers a build request from the cache, or joins or queues its
// build.
func (s *webServer) start(r *http.Request) (*job, error) {
	req, err := s.buildParams(r)
	if err != nil {
		s.metrics.add(&s.metrics.refused, 1)
		return nil, err
	}
	if e := s.cache.get(req.key); e != nil {
		s.metrics.add(&s.metrics.cached, 1)
		s.log.WithField("features", req.sel.Spec).WithField("platform", req.platform).WithField("artifact", req.artifact).
			WithField("client", req.client).WithField("sha256", e.SHA256).Info("build served from the cache")
		return s.queue.finishedFrom(req, e), nil
	}
	j, joined, err := s.queue.submit(req)
	switch {
	case err != nil:
		s.metrics.add(&s.metrics.refused, 1)
		s.log.WithField("client", req.client).WithField("error", err.Error()).Warn("build refused")
	case joined:
		s.metrics.add(&s.metrics.joined, 1)
	default:
		s.log.WithField("build", j.id[:8]).WithField("features", req.sel.Spec).WithField("platform", req.platform).
			WithField("artifact", req.artifact).WithField("client", req.client).Info("build queued")
	}
	return j, err
}

// startAllowed starts a build for a caller with the build scope; nil when
// refused (the refusal is answered).
func (s *webServer) startAllowed(w http.ResponseWriter, r *http.Request) *job {
	if !s.allowed(w, r, auth.Build) {
		return nil
	}
	j, err := s.start(r)
	if err != nil {
		writeError(w, r, err)
	}
	return j
}

func (s *webServer) handleStart(w http.ResponseWriter, r *http.Request) {
	j := s.startAllowed(w, r)
	if j == nil {
		return
	}
	status := http.StatusAccepted
	if st := s.status(j); st.State == "done" {
		status = http.StatusOK
	}
	writeJSON(w, status, s.status(j))
}

// withJob finds the job of the path's id.
func (s *webServer) withJob(h func(http.ResponseWriter, *http.Request, *job)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		j := s.queue.get(r.PathValue("id"))
		if j == nil {
			writeError(w, r, &requestError{status: http.StatusNotFound, msg: "no build " + r.PathValue("id") + " here (finished builds are remembered for a while): request it again"})
			return
		}
		h(w, r, j)
	}
}

// apiResult is a finished build's result for the page.
type apiResult struct {
	builtFile
	BuiltIn  float64 `json:"built_in_seconds"`
	Download string  `json:"download"`
	SBOM     string  `json:"sbom"`
}

func (s *webServer) status(j *job) jobStatus {
	j.mu.Lock()
	st := jobStatus{ID: j.id, State: j.state, Features: j.req.sel.Features, Platform: j.req.platform, Artifact: j.req.artifact,
		Error: j.err, Events: "/api/builds/" + j.id + "/events"}
	if e := j.result; e != nil {
		st.Result = &apiResult{builtFile: e.builtFile, BuiltIn: e.BuiltIn.Seconds(),
			Download: "/api/builds/" + j.id + "/download", SBOM: "/api/builds/" + j.id + "/sbom"}
	}
	j.mu.Unlock()
	if st.State == "queued" {
		st.Position = s.queue.position(j)
	}
	return st
}

func (s *webServer) handleStatus(w http.ResponseWriter, r *http.Request, j *job) {
	writeJSON(w, http.StatusOK, s.status(j))
}

func (s *webServer) handleCancel(w http.ResponseWriter, r *http.Request, j *job) {
	s.queue.cancelJob(j)
	writeJSON(w, http.StatusOK, s.status(j))
}

// handleEvents streams a job's progress as server-sent events, from the
// one after Last-Event-ID, until it ends.
func (s *webServer) handleEvents(w http.ResponseWriter, r *http.Request, j *job) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	last, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	send := func(text string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprint(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n\n") {
		return
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		events, ended, changed := j.since(last)
		var b strings.Builder
		for _, ev := range events {
			data := ev.jsonData()
			if ev.Type == "done" {
				st := s.status(j)
				enc, _ := json.Marshal(st.Result)
				data = string(enc)
			}
			fmt.Fprintf(&b, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data)
			last = ev.ID
		}
		if b.Len() > 0 && !send(b.String()) {
			return
		}
		if ended {
			return
		}
		select {
		case <-changed:
		case <-heartbeat.C:
			if !send(": still here\n\n") {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// serveResult answers a finished job's artefact (or SBOM).
func (s *webServer) serveResult(w http.ResponseWriter, r *http.Request, j *job, sbom bool) {
	st := s.status(j)
	if st.State != "done" {
		writeError(w, r, &requestError{status: http.StatusConflict, msg: "build " + j.id + " is " + st.State + ", not done" + errSuffix(st.Error)})
		return
	}
	j.mu.Lock()
	e := j.result
	j.mu.Unlock()
	name, ctype := e.File, map[string]string{"binary": "application/octet-stream", "archive": "application/gzip", "image": "application/x-tar"}[e.Artifact]
	if sbom {
		name, ctype = sbomFile, "application/vnd.cyclonedx+json"
	}
	f, err := os.Open(s.cache.path(e, name))
	if err != nil {
		writeError(w, r, &requestError{status: http.StatusGone, msg: "the result left the cache (it keeps the most recently used within its size): request the build again"})
		return
	}
	defer f.Close()
	s.cache.get(e.Key) // used
	if !sbom {
		sum, _ := hex.DecodeString(e.SHA256)
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": e.File}))
		w.Header().Set("ETag", `"`+e.SHA256+`"`)
		w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
		w.Header().Set("X-Navius-Features", strings.Join(e.Features, ","))
	}
	w.Header().Set("Content-Type", ctype)
	http.ServeContent(w, r, name, e.Built, f)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func (s *webServer) handleDownload(w http.ResponseWriter, r *http.Request, j *job) {
	s.serveResult(w, r, j, false)
}

func (s *webServer) handleSBOM(w http.ResponseWriter, r *http.Request, j *job) {
	s.serveResult(w, r, j, true)
}

// handleScriptDownload is GET /download?features=&platform=&artifact=: it
// waits for the build (or the cache) and answers the file.
func (s *webServer) handleScriptDownload(w http.ResponseWriter, r *http.Request) {
	j := s.startAllowed(w, r)
	if j == nil {
		return
	}
	for {
		_, ended, changed := j.since(0)
		if ended {
			break
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return // the build goes on, and its result will be cached
		}
	}
	j.mu.Lock()
	state, msg, status := j.state, j.err, j.errStatus
	j.mu.Unlock()
	if state != "done" {
		writeError(w, r, &requestError{status: status, msg: "the build " + state + errSuffix(msg)})
		return
	}
	s.serveResult(w, r, j, false)
}

func (s *webServer) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(w, r, auth.Metrics) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w)
}
