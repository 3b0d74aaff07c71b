package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/observe"
)

// exchange is the middleware's per-request state, allocated once: the
// response writer and the X-Request-ID header value.
type exchange struct {
	observe.StatusWriter
	idHeader [1]string
}

// requestIDHeader is X-Request-ID in canonical form, so that setting it
// needs no conversion.
const requestIDHeader = "X-Request-Id"

// frame is what every listener of navius does around its handlers: request
// IDs, a JSON 500 for a panic, the access log; on the API's, the bounds on
// load (admit).
type frame struct {
	log    *logrus.Logger
	access *logging.AccessLog
	idBase string
	idSeq  atomic.Uint64
	// admit, when set, applies the bounds on load (Server.admit); a place
	// it reports held is given back to inflight.
	admit    func(http.ResponseWriter, *http.Request) (held, ok bool)
	inflight *limits.Inflight
}

func newFrame(log *logrus.Logger, access *logging.AccessLog) *frame {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &frame{log: log, access: access, idBase: hex.EncodeToString(b[:]) + "-"}
}

// Framed wraps h in what the API's listener does around its handlers but
// for the bounds on load (the listener's own connection limits apply):
// request IDs, a JSON 500 for a panic and the access log, for a listener
// of its own such as pprof's.
func Framed(h http.Handler, log *logrus.Logger, access *logging.AccessLog) http.Handler {
	return newFrame(log, access).wrap(h)
}

// newRequestID is the instance's random prefix and a sequence number.
func (s *frame) newRequestID() string {
	var b [32]byte
	return string(strconv.AppendUint(append(b[:0], s.idBase...), s.idSeq.Add(1), 36))
}

// wrap assigns the request ID, recovers panics into a JSON 500, writes the
// access log and applies the bounds on load.
func (s *frame) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if v := r.Header[requestIDHeader]; len(v) > 0 { // parsed headers are canonical
			id = v[0]
		}
		if !validRequestID(id) {
			id = s.newRequestID()
		}
		x := &exchange{StatusWriter: observe.StatusWriter{ResponseWriter: w}}
		x.idHeader[0] = id
		w.Header()[requestIDHeader] = x.idHeader[:]
		r = r.WithContext(logging.WithCorrelationID(r.Context(), id)) // the request ID is the log correlation ID
		sw := &x.StatusWriter
		accessLog := s.access.Enabled()
		var start time.Time
		if accessLog {
			start = time.Now()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.WithFields(logrus.Fields{logging.CorrelationKey: id, logging.SourceKey: "http", "panic": fmt.Sprint(p)}).Error("handler panicked")
				if sw.Status() == 0 {
					writeError(sw, r, http.StatusInternalServerError, "internal", "internal error; see the server log for request "+id)
				}
			}
			if accessLog {
				end := time.Now()
				s.access.Log(logging.Access{Time: end, RequestID: id, Method: r.Method, Path: r.URL.Path,
					Remote: r.RemoteAddr, Status: sw.Status(), Bytes: sw.Bytes(), Duration: end.Sub(start)})
			}
		}()
		if s.admit != nil {
			held, ok := s.admit(sw, r)
			if !ok {
				return
			}
			if held {
				defer s.inflight.Release()
			}
		}
		next.ServeHTTP(sw, r)
	})
}
