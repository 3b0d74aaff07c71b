package logging

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/providers"
)

// Access is one served HTTP request, as the access log records it.
type Access struct {
	// Time is when the response was finished.
	Time      time.Time
	RequestID string
	Method    string
	Path      string
	Remote    string
	Status    int
	Bytes     int
	Duration  time.Duration
}

// DefaultAccessQueue is how many access lines may wait for the writer when
// Options.AccessQueue is 0: about a fifth of a second at 40,000 requests/s.
const DefaultAccessQueue = 8192

// writeChunk is the size at which the writer hands its buffer to the
// console, so that one large batch does not grow the buffer without bound.
const writeChunk = 64 << 10

// gatherDelay is how long the writer lets lines gather after the first one
// arrives in an empty queue: a line is written at most this late, and a
// busy server writes once per gatherDelay rather than once per request.
const gatherDelay = 2 * time.Millisecond

// dropWarnEvery spaces the console warnings about dropped lines.
const dropWarnEvery = 10 * time.Second

// AccessLog writes the access log: one info line per request ("request",
// source http, the request ID as correlation ID) to the console and to every
// sink, like any entry of the service, but off the request path. Log only
// appends the request to a bounded queue; a writer goroutine formats what
// is queued into one buffer, writes it to the console with one call and
// hands the entries to the sinks. When the queue is full (the console
// cannot keep up), Log drops the line and counts it, so Dropped is exact:
// every line is either written or counted. Flush and Close write every line
// accepted before them. Hooks added to Logger() do not see access lines;
// the service's own counts and sinks do.
type AccessLog struct {
	svc  *Service
	fast *formatter // nil: lines are formatted by logrus

	mu     sync.Mutex // guards queue and closed
	queue  []Access   // waiting lines, at most bound
	bound  int
	closed bool

	wake    chan struct{} // a line arrived in an empty queue
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}

	dropped atomic.Uint64

	// The writer goroutine's own.
	w            lineWriter
	warnedDrops  uint64
	lastDropWarn time.Time
}

// lineWriter formats and writes batches of lines, reusing its buffer.
type lineWriter struct {
	a     *AccessLog
	buf   []byte
	fast  *formatter    // its own copy, with its own cache
	entry *logrus.Entry // for lines formatted by logrus itself
}

func (a *AccessLog) newWriter() lineWriter {
	w := lineWriter{a: a}
	if a.fast != nil {
		f := *a.fast
		w.fast = &f
	}
	return w
}

// AccessLog returns the service's access log, starting its writer on the
// first call. Close closes it before the sinks.
func (s *Service) AccessLog() *AccessLog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.access == nil {
		s.access = newAccessLog(s, s.accessQueue)
	}
	return s.access
}

func newAccessLog(s *Service, size int) *AccessLog {
	if size <= 0 {
		size = DefaultAccessQueue
	}
	// The queue and the buffer start small and grow with the batches:
	// the garbage collector scans a queue's whole capacity every cycle.
	const initialQueue = 64
	a := &AccessLog{
		svc:     s,
		queue:   make([]Access, 0, min(size, initialQueue)),
		bound:   size,
		wake:    make(chan struct{}, 1),
		flushes: make(chan chan struct{}),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	a.fast = fastFormatter(s)
	a.w = a.newWriter()
	go a.run(make([]Access, 0, min(size, initialQueue)))
	return a
}

// Enabled reports whether requests are logged: a nil AccessLog (the access
// log switched off) or a log level above info logs none.
func (a *AccessLog) Enabled() bool {
	return a != nil && a.svc.IsEnabled(providers.LevelInfo)
}

// Log queues one request's line; it never blocks on the console. After
// Close it writes the line itself.
func (a *AccessLog) Log(r Access) {
	r.Path, r.Method, r.Remote = Cut(r.Path, MaxEcho), Cut(r.Method, MaxEcho), Cut(r.Remote, MaxEcho)
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.writeLate(r)
		return
	}
	if len(a.queue) >= a.bound {
		a.mu.Unlock()
		a.dropped.Add(1)
		return
	}
	a.queue = append(a.queue, r)
	n := len(a.queue)
	a.mu.Unlock()
	switch {
	case n == 1:
		select {
		case a.wake <- struct{}{}:
		default: // the writer is already due to look
		}
	case n >= a.bound/2:
		// The writer may be starved of CPU rather than stuck on the
		// console: give it a turn before lines have to be dropped.
		runtime.Gosched()
	}
}

// Dropped is the number of lines dropped because the queue was full.
func (a *AccessLog) Dropped() uint64 {
	if a == nil {
		return 0
	}
	return a.dropped.Load()
}

// Flush returns once every line accepted before the call is written, or
// when ctx ends.
func (a *AccessLog) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case a.flushes <- ack:
	case <-a.done: // closed: everything accepted was written
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes every queued line and stops the writer; lines logged later
// are written by Log itself. Dropped lines, if any, are reported with a
// warning. Closing a nil AccessLog does nothing.
func (a *AccessLog) Close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if !already {
		close(a.stop)
	}
	<-a.done
	if !already {
		if n := a.dropped.Load(); n > 0 {
			a.svc.log.WithField("dropped", n).Warn("access log: lines dropped in all because the log output could not keep up")
		}
	}
}

// run is the writer goroutine: it takes the whole queue at once, leaving
// the spare (emptied) slice in its place.
func (a *AccessLog) run(spare []Access) {
	defer close(a.done)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	for {
		var ack chan struct{}
		select {
		case <-a.wake:
			// Let more lines arrive before writing: one write per batch
			// rather than per request when the server is busy.
			gather.Reset(gatherDelay)
			select {
			case <-gather.C:
			case ack = <-a.flushes:
				gather.Stop()
			case <-a.stop:
				gather.Stop()
			}
		case ack = <-a.flushes:
		case <-a.stop:
		}
		a.mu.Lock()
		batch := a.queue
		a.queue = spare[:0]
		closed := a.closed
		a.mu.Unlock()
		a.w.write(batch)
		clear(batch) // let the requests' strings go
		spare = batch
		if ack != nil {
			close(ack)
		}
		if closed {
			return
		}
		a.warnDrops()
	}
}

// write formats lines into the buffer, writing it to the console whenever
// it reaches writeChunk and at the end, hands each line to the sinks and
// counts the lines.
func (w *lineWriter) write(lines []Access) {
	if len(lines) == 0 {
		return
	}
	svc := w.a.svc
	sinks := *svc.sinks.Load()
	for i := range lines {
		w.buf = w.appendLine(w.buf, &lines[i])
		if len(w.buf) >= writeChunk {
			svc.writeConsole(w.buf)
			w.buf = w.buf[:0]
		}
		for _, k := range sinks {
			if providers.LevelInfo >= k.level {
				k.sink.Write(accessEntry(&lines[i]))
			}
		}
	}
	if len(w.buf) > 0 {
		svc.writeConsole(w.buf)
		w.buf = w.buf[:0]
	}
	svc.counts[providers.LevelInfo].Add(uint64(len(lines)))
}

// writeLate writes a line logged after Close, with a writer of its own:
// the goroutine may still be writing its last batch.
func (a *AccessLog) writeLate(r Access) {
	w := a.newWriter()
	w.write([]Access{r})
}

// warnDrops tells the console, at most every dropWarnEvery, that lines are
// being dropped.
func (a *AccessLog) warnDrops() {
	n := a.dropped.Load()
	if n == a.warnedDrops || time.Since(a.lastDropWarn) < dropWarnEvery {
		return
	}
	a.svc.log.WithField("dropped", n).Warn("access log: dropping lines because the log output cannot keep up")
	a.warnedDrops, a.lastDropWarn = n, time.Now()
}

// accessMessage and accessSource are what every access line carries.
const (
	accessMessage = "request"
	accessSource  = "http"
)

// accessFields are the line's fields besides the correlation ID and source.
func accessFields(r *Access) map[string]any {
	return map[string]any{
		"method":      r.Method,
		"path":        r.Path,
		"status":      r.Status,
		"bytes":       r.Bytes,
		"duration_ms": durationMS(r.Duration),
		"remote":      r.Remote,
	}
}

// durationMS is a duration in milliseconds with microsecond resolution.
func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// accessEntry is the line as sinks receive it: what the logrus path would
// hand them for the same line.
func accessEntry(r *Access) *providers.LogEntry {
	return &providers.LogEntry{Time: r.Time, Level: providers.LevelInfo, Message: accessMessage,
		CorrelationID: r.RequestID, Source: accessSource, Fields: accessFields(r)}
}

// appendLine appends r's console line: by the fast formatter when it
// reproduces the console's formatter, else by logrus's formatter itself.
func (w *lineWriter) appendLine(buf []byte, r *Access) []byte {
	if w.fast != nil {
		return w.fast.append(buf, r)
	}
	if w.entry == nil {
		w.entry = &logrus.Entry{Logger: w.a.svc.log}
	}
	line, err := w.a.svc.log.Formatter.Format(logrusEntry(w.entry, r))
	if err != nil {
		return buf
	}
	return append(buf, line...)
}

// logrusEntry fills e with r as the logrus path would log it.
func logrusEntry(e *logrus.Entry, r *Access) *logrus.Entry {
	e.Data = accessFields(r)
	e.Data[CorrelationKey] = r.RequestID
	e.Data[SourceKey] = accessSource
	e.Time, e.Level, e.Message = r.Time, logrus.InfoLevel, accessMessage
	return e
}
