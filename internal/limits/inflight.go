package limits

import (
	"runtime"
	"sync/atomic"
)

// Inflight bounds the requests being served at once. A request above the
// bound is refused at once (the server answers 503 with Retry-After)
// rather than queued: under overload a queue only adds its wait to every
// request, and holds their memory. A nil *Inflight bounds nothing.
type Inflight struct {
	max  int64
	n    atomic.Int64
	shed atomic.Uint64
}

// NewInflight returns a bound of max requests; max < 1 returns nil (no
// bound).
func NewInflight(max int) *Inflight {
	if max < 1 {
		return nil
	}
	return &Inflight{max: int64(max)}
}

// Acquire takes a place, or reports false (and counts a shed request) when
// all are taken. A true must be followed by Release.
func (f *Inflight) Acquire() bool {
	if f == nil {
		return true
	}
	if f.n.Add(1) > f.max {
		f.n.Add(-1)
		f.shed.Add(1)
		return false
	}
	return true
}

// Release gives a place back.
func (f *Inflight) Release() {
	if f != nil {
		f.n.Add(-1)
	}
}

// Shed is the number of requests refused since the start.
func (f *Inflight) Shed() uint64 {
	if f == nil {
		return 0
	}
	return f.shed.Load()
}

// Max is the bound; 0 for none.
func (f *Inflight) Max() int {
	if f == nil {
		return 0
	}
	return int(f.max)
}

// The defaults, derived from the process's open-file limit (which Go
// raises to the hard limit at start).
const (
	// MaxDefaultConnections bounds the derived default: ten thousand idle
	// keep-alive connections already hold a few hundred MB.
	MaxDefaultConnections = 10000
	// AdminConnections are kept for the admin (pprof) listener.
	AdminConnections = 32
	// minKept is the least kept for the process's own files: the database
	// file, log files, connections to the database, the cache and the sinks.
	minKept = 64
)

// DefaultMaxConnections derives the API listener's bound from the
// open-file limit files: an eighth of it (at least 64) is kept for the
// process's own files, AdminConnections for the admin listener, and a
// fiftieth of the rest for the probes' reserve (ProbeReserve); the API
// gets the remainder, at most MaxDefaultConnections and at least 16. With
// no limit known (files 0) it assumes 1024.
func DefaultMaxConnections(files int) int {
	if files <= 0 {
		files = 1024
	}
	avail := files - max(minKept, files/8) - AdminConnections
	n := avail * 50 / 51
	if n+ProbeReserve(n) > avail {
		n = avail - ProbeReserve(n)
	}
	return max(16, min(n, MaxDefaultConnections))
}

// ProbeReserve is the share kept above maxConns for health probes and
// metrics scrapes: a fiftieth, at least 16.
func ProbeReserve(maxConns int) int { return max(16, maxConns/50) }

// DefaultPerIP is the per-client bound when none is set: a quarter of the
// total, so that one client (or one attacker) cannot hold them all.
func DefaultPerIP(maxConns int) int { return max(1, maxConns/4) }

// DefaultInflight is the bound on requests in flight when none is set: 256
// per CPU navius may use.
func DefaultInflight() int { return 256 * runtime.GOMAXPROCS(0) }
