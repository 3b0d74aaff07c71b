package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
)

// maxMessage bounds an error body's message, whatever it echoes (input is
// cut shorter where it is echoed; this is the net under it).
const maxMessage = 1024

// apiError is the JSON error body: {"error":{"code":"...","message":"..."}}.
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	var body apiError
	body.Error.Code, body.Error.Message = code, logging.Cut(msg, maxMessage)
	body.Error.RequestID = w.Header().Get("X-Request-ID")
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/json", v)
}

// writeJSONType writes v as JSON without HTML escaping: these are API
// answers, not HTML, and "<token>" should read as written.
func writeJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"response encoding failed"}}` + "\n")
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// storeError maps a database service error to a status and code. The
// bodies of 503 and 507 say what failed in words a client can act on, with
// the request ID, never the cause's detail (an address, a path, an errno):
// the health indicators log that, once per transition (database,
// database_writes). An unexpected error is a 500 whose cause is logged with
// the request ID.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	var stale *store.StaleCacheError
	switch {
	case errors.Is(err, providers.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "no such key")
	case errors.Is(err, providers.ErrInvalid):
		writeError(w, r, http.StatusBadRequest, "invalid_argument", err.Error())
	case errors.Is(err, providers.ErrFull) && r.Method == http.MethodDelete:
		writeError(w, r, http.StatusInsufficientStorage, "insufficient_storage",
			"the database's storage is full, and even a delete needs a little room to record itself: nothing was deleted; the operator must free space (the server's log says where), then deleting works again")
	case errors.Is(err, providers.ErrFull):
		writeError(w, r, http.StatusInsufficientStorage, "insufficient_storage",
			"the database has no room for this write: nothing was written; deleting entries makes room, or the operator adds space (the server's log says why)")
	case errors.Is(err, providers.ErrUnsupported):
		writeError(w, r, http.StatusNotImplemented, "not_implemented", err.Error())
	case errors.Is(err, providers.ErrNotAtomic):
		writeError(w, r, http.StatusUnprocessableEntity, "not_atomic", err.Error())
	case errors.Is(err, providers.ErrPrecondition):
		writeError(w, r, http.StatusPreconditionFailed, "precondition_failed", err.Error())
	case errors.As(err, &stale):
		s.logCause(r, stale.Err, "cache invalidation failed")
		writeError(w, r, http.StatusInternalServerError, "cache_invalidation_failed",
			"written, but the cache entry could not be invalidated: reads may return the old value until it expires (cache.default_ttl); the server's log has the cause under this request's id")
	case errors.Is(err, providers.ErrClosed):
		unavailable(w, r, "the database is closed: the server is shutting down; retry on another instance")
	case errors.Is(err, context.DeadlineExceeded):
		unavailable(w, r, "the database did not answer in time (database.timeout): retry later, or narrow the request (a smaller limit, a filter that matches sooner)")
	case errors.Is(err, context.Canceled):
		writeError(w, r, 499, "canceled", "the request was canceled")
	case errors.Is(err, providers.ErrUnavailable):
		unavailable(w, r, "the database is unavailable: retry later (the server's log says why)")
	default:
		s.logCause(r, err, "database error")
		writeError(w, r, http.StatusInternalServerError, "internal", "internal error: the server's log has the cause under this request's id")
	}
}

// logCause logs the cause of a 500 with the request's ID.
func (s *Server) logCause(r *http.Request, err error, msg string) {
	s.Log.WithFields(logrus.Fields{logging.CorrelationKey: logging.CorrelationID(r.Context()), logging.SourceKey: "http"}).WithError(err).Error(msg)
}

// unavailable answers 503 with a Retry-After of a second.
func unavailable(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("Retry-After", "1")
	writeError(w, r, http.StatusServiceUnavailable, "unavailable", msg)
}
