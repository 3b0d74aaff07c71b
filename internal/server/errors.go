package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"

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

// writeStoreError maps a database service error to a status and code.
func writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	var stale *store.StaleCacheError
	switch {
	case errors.Is(err, providers.ErrNotFound):
		writeError(w, r, http.StatusNotFound, "not_found", "no such key")
	case errors.Is(err, providers.ErrInvalid):
		writeError(w, r, http.StatusBadRequest, "invalid_argument", err.Error())
	case errors.Is(err, providers.ErrFull):
		writeError(w, r, http.StatusInsufficientStorage, "insufficient_storage", err.Error())
	case errors.Is(err, providers.ErrUnsupported):
		writeError(w, r, http.StatusNotImplemented, "not_implemented", err.Error())
	case errors.Is(err, providers.ErrNotAtomic):
		writeError(w, r, http.StatusUnprocessableEntity, "not_atomic", err.Error())
	case errors.Is(err, providers.ErrPrecondition):
		writeError(w, r, http.StatusPreconditionFailed, "precondition_failed", err.Error())
	case errors.As(err, &stale):
		writeError(w, r, http.StatusInternalServerError, "cache_invalidation_failed", stale.Error())
	case errors.Is(err, providers.ErrClosed):
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the database is closed: the server is shutting down")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the database is unavailable: it did not answer in time")
	case errors.Is(err, context.Canceled):
		writeError(w, r, 499, "canceled", "the request was canceled")
	case errors.Is(err, providers.ErrUnavailable):
		writeError(w, r, http.StatusServiceUnavailable, "unavailable", "the database is unavailable: "+err.Error())
	default:
		writeError(w, r, http.StatusInternalServerError, "internal", err.Error())
	}
}
