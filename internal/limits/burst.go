package limits

import (
	"bytes"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Burst logs a failure that repeats (an accept error on every try while the
// file table is full) once when it begins, with its error, and once when it
// ends, with how many there were and for how long, instead of once per try.
type Burst struct {
	log        logrus.FieldLogger
	begin, end string

	failing atomic.Bool
	count   atomic.Uint64

	mu      sync.Mutex
	since   time.Time
	inBurst uint64
}

// NewBurst returns a Burst that logs begin (at warn) and end (at info); a
// nil log logs nothing.
func NewBurst(log logrus.FieldLogger, begin, end string) *Burst {
	return &Burst{log: log, begin: begin, end: end}
}

// Fail notes one failure.
func (b *Burst) Fail(err error) {
	b.count.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inBurst++
	if b.failing.Load() {
		return
	}
	b.failing.Store(true)
	b.since = time.Now()
	if b.log != nil {
		b.log.WithError(err).Warn(b.begin + "; retrying, and closing idle connections to free descriptors (raise the open-file limit, ulimit -n, or lower the connection limits)")
	}
}

// OK notes a success: it ends a burst. It costs one atomic load otherwise.
func (b *Burst) OK() {
	if !b.failing.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.failing.Load() {
		return
	}
	b.failing.Store(false)
	if b.log != nil {
		b.log.WithFields(logrus.Fields{"failures": b.inBurst, "for": time.Since(b.since).Round(time.Millisecond).String()}).Info(b.end)
	}
	b.inBurst = 0
}

// Count is the number of failures since the start.
func (b *Burst) Count() uint64 { return b.count.Load() }

// ServerLog is an http.Server's ErrorLog that writes through log, at debug
// level with source http, at most one line a second: the rest are counted
// in the next line's "suppressed". Go's server writes there per connection
// (a failed TLS handshake, a malformed request line), so a scanner or a
// flood would otherwise write one line per connection, in Go's own format.
func ServerLog(l logrus.FieldLogger) *log.Logger {
	return log.New(&serverLog{log: l}, "", 0)
}

type serverLog struct {
	log        logrus.FieldLogger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (s *serverLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	now := time.Now()
	if now.Sub(s.last) < time.Second {
		s.suppressed++
		s.mu.Unlock()
		return len(p), nil
	}
	s.last = now
	n := s.suppressed
	s.suppressed = 0
	s.mu.Unlock()
	msg := string(bytes.TrimSpace(p))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	e := s.log.WithField("source", "http")
	if n > 0 {
		e = e.WithField("suppressed", n)
	}
	e.Debug(msg)
	return len(p), nil
}
