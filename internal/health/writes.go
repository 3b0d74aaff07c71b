package health

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Writes is the health of the database's writes, told by the writes
// themselves: a database that cannot write (a full disk, a read-only file
// system or server, a capacity reached) answers pings and reads all the
// same. Its indicator, database_writes, is DOWN from a write that failed
// for such a reason until a write succeeds again; it is not critical, so
// that the instance stays ready for reads. Its transitions are logged once
// each, with the cause, like every indicator's. A nil *Writes does nothing.
type Writes struct {
	failing atomic.Bool
	mu      sync.Mutex
	cause   string
	since   time.Time
	failed  uint64
}

// Wrote tells the outcome of a write: err nil for a success. Errors that
// are the request's own (a failed condition, a bad argument, a deadline or
// a client gone) say nothing of the database's health. A success costs one
// atomic load.
func (w *Writes) Wrote(err error) {
	if w == nil {
		return
	}
	if err == nil {
		if w.failing.Load() {
			w.mu.Lock()
			w.failing.Store(false)
			w.cause, w.failed = "", 0
			w.mu.Unlock()
		}
		return
	}
	if !WriteFailure(err) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.failing.Load() {
		w.since = time.Now()
	}
	w.failing.Store(true)
	w.cause = err.Error()
	w.failed++
}

// WriteFailure reports whether a write's error says the database cannot
// write now, rather than that the request was wrong or gave up.
func WriteFailure(err error) bool {
	for _, own := range []error{providers.ErrInvalid, providers.ErrPrecondition, providers.ErrNotFound, providers.ErrNotAtomic,
		providers.ErrUnsupported, providers.ErrClosed, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, own) {
			return false
		}
	}
	return true
}

// Indicator is the database_writes indicator.
func (w *Writes) Indicator() providers.HealthIndicator {
	return providers.HealthIndicator{
		Name: "database_writes", Order: 11, ComponentType: "datastore",
		Check: func(context.Context) providers.HealthResult {
			if !w.failing.Load() {
				return providers.HealthResult{Status: providers.StatusUp}
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			return providers.HealthResult{Status: providers.StatusDown, Error: "writes fail: " + w.cause,
				Details: map[string]any{"failing_since": w.since.UTC().Format(time.RFC3339), "failed_writes": w.failed}}
		},
	}
}
