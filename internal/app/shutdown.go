package app

import (
	"context"
	"sync"
	"time"
)

// shutdown is the budget of server.shutdown_timeout, which bounds the whole
// shutdown: the HTTP drain gets it but a fifth, kept for what comes after
// (closing the database, pushing metrics and spans, flushing the log
// sinks); the last moment of it (at most a second) is for delivering
// "stopped" to the sinks. It starts when the signal comes (begin), or at
// its first use when the start failed.
type shutdown struct {
	budget time.Duration

	mu       sync.Mutex
	deadline time.Time
}

func newShutdown(budget time.Duration) *shutdown { return &shutdown{budget: budget} }

// begin starts the budget, once.
func (d *shutdown) begin() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deadline.IsZero() {
		d.deadline = time.Now().Add(d.budget)
	}
	return d.deadline
}

// begun reports whether the shutdown began.
func (d *shutdown) begun() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.deadline.IsZero()
}

// drainEnd is when in-flight requests are cut off.
func (d *shutdown) drainEnd() time.Time { return d.begin().Add(-d.budget / 5) }

// last is the final slice, for "stopped" to reach the sinks.
func (d *shutdown) last() time.Duration { return min(time.Second, d.budget/10) }

// drainContext ends at drainEnd.
func (d *shutdown) drainContext() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), d.drainEnd())
}

// flushContext ends where the final slice begins: for pushing metrics and
// spans and flushing the log sinks.
func (d *shutdown) flushContext() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), d.begin().Add(-d.last()))
}

// closeContext ends with the budget.
func (d *shutdown) closeContext() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), d.begin())
}
