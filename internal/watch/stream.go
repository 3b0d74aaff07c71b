package watch

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"time"
)

// watcher is one open stream's place in the hub.
type watcher struct {
	coll, prefix string
	ch           chan *event
	lagged       chan struct{} // closed once ch overflowed
	behind       bool          // ch overflowed: nothing more is offered (under the hub's lock)
}

// offer hands e to the watcher without blocking; a full buffer marks it
// behind, and it gets nothing more.
func (w *watcher) offer(e *event) {
	if w.behind {
		return
	}
	select {
	case w.ch <- e:
	default:
		w.behind = true
		close(w.lagged)
	}
}

// wants tells whether e is for w: its collection and prefix, or a resync
// of the whole collection (no key) or of every collection.
func (w *watcher) wants(e *event) bool {
	if e.coll == "" {
		return true
	}
	return e.coll == w.coll && (strings.HasPrefix(e.key, w.prefix) || e.kind == KindResync && e.key == "")
}

// Request is what a stream asks for.
type Request struct {
	Collection string
	// Prefix narrows the keys ("" for all).
	Prefix string
	// LastEventID is the id of the last event the client saw, to resume
	// after it (the Last-Event-ID header).
	LastEventID string
}

// Subscription is an open stream, registered with the hub.
type Subscription struct {
	h             *Hub
	w             *watcher
	sent, resyncs uint64 // not yet added to the hub's
}

// Subscribe registers a stream; from its return on, every change to the
// collection reaches it. A Last-Event-ID the hub still holds gets the events
// after it first, any other a resync.
func (h *Hub) Subscribe(req Request) (*Subscription, error) {
	w := &watcher{coll: req.Collection, prefix: req.Prefix, ch: make(chan *event, h.opts.Buffer), lagged: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, ErrClosed
	case h.n.Load() >= int64(h.opts.MaxWatchers):
		return nil, ErrTooManyWatchers
	}
	if req.LastEventID != "" {
		h.replay(w, req.LastEventID)
	}
	ws := h.watchers[w.coll]
	if ws == nil {
		ws = map[*watcher]struct{}{}
		h.watchers[w.coll] = ws
	}
	ws[w] = struct{}{}
	h.n.Add(1)
	h.idleGen++
	if h.idleTimer != nil {
		h.idleTimer.Stop()
		h.idleTimer = nil
	}
	h.recording.Store(true)
	return &Subscription{h: h, w: w}, nil
}

// replay queues the recorded events after id for w, or a resync when the
// hub does not hold all of them (or more than w's buffer).
func (h *Hub) replay(w *watcher, id string) {
	if seq, ok := h.parseID(id); ok && seq >= h.floor && seq <= h.seq {
		var evs []*event
		for i := range h.history {
			if e := h.history[(h.head+i)%len(h.history)]; e.seq > seq && w.wants(e) {
				evs = append(evs, e)
			}
		}
		if len(evs) < cap(w.ch) {
			for _, e := range evs {
				w.ch <- e
			}
			return
		}
	}
	e := resyncEvent("", "this instance no longer holds the events after Last-Event-ID "+cut(id, 40))
	e.seq = h.seq
	w.ch <- e
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Close unregisters the stream. Once nobody has watched for a while, the
// hub stops recording.
func (s *Subscription) Close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.watchers[s.w.coll]
	if _, ok := ws[s.w]; !ok {
		return
	}
	delete(ws, s.w)
	if len(ws) == 0 {
		delete(h.watchers, s.w.coll)
	}
	if h.n.Add(-1) == 0 && !h.closed {
		h.idleGen++
		gen := h.idleGen
		h.idleTimer = time.AfterFunc(resumeWindow, func() { h.stopRecording(gen) })
	}
}

// Bounds of a stream's writes: the bytes of events sent in one write, and
// the writes per second of all streams together (streamWrites). After a
// write a stream rests 1/streamWrites per open stream, then sends what
// gathered meanwhile in one write: with a thousand watchers and a thousand
// changes a second, each stream writes every 20ms, not every change; below
// fifty watchers it does not rest.
const (
	maxFlush     = 32 << 10
	streamWrites = 50_000
)

// Serve writes the stream as text/event-stream until the client goes, falls
// behind, or the hub closes; it closes the subscription. Nothing must have
// been written to w.
func (s *Subscription) Serve(w http.ResponseWriter, r *http.Request) {
	defer s.Close()
	h := s.h
	rc := http.NewResponseController(w)
	// The server's write timeout would cut the stream: each write gets a
	// deadline of its own instead.
	timeout := h.opts.WriteTimeout
	defer func() { _ = rc.SetWriteDeadline(time.Now().Add(timeout)) }() // room for the final chunk
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // proxies such as nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	buf := make([]byte, 0, 1024)
	buf = append(buf, ": watching "...)
	buf = append(buf, s.w.coll...)
	if s.w.prefix != "" {
		buf = append(buf, " keys starting with "...)
		buf = append(buf, s.w.prefix...)
	}
	buf = append(buf, "\nretry: 1000\n\n"...)
	write := func() error {
		h.sent.Add(s.sent)
		h.resyncs.Add(s.resyncs)
		s.sent, s.resyncs = 0, 0
		_ = rc.SetWriteDeadline(time.Now().Add(timeout))
		if _, err := w.Write(buf); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write() != nil {
		return
	}
	beat := time.NewTimer(h.opts.Heartbeat)
	defer beat.Stop()
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case e := <-s.w.ch:
			buf = buf[:0]
			for e != nil && len(buf) < maxFlush {
				buf = s.appendEvent(buf, e)
				select {
				case e = <-s.w.ch:
				default:
					e = nil
				}
			}
			if e != nil {
				buf = s.appendEvent(buf, e)
			}
			if err := write(); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					h.slow.Add(1)
				}
				return
			}
			// Rest before taking more: what arrives meanwhile waits in the
			// buffer, without waking this stream, for the next write.
			if rest := time.Duration(h.n.Load()) * time.Second / streamWrites; rest >= time.Millisecond {
				pause.Reset(rest)
				select {
				case <-pause.C:
				case <-r.Context().Done():
					return
				case <-h.done:
					return
				}
			}
		case <-beat.C:
			buf = append(buf[:0], ": keep-alive\n\n"...)
			if write() != nil {
				return
			}
		case <-s.w.lagged:
			h.mu.Lock()
			e := resyncEvent("", "this client fell behind: the stream is closed; list again, then watch again")
			e.seq = h.seq
			h.mu.Unlock()
			buf = s.appendEvent(buf[:0], e)
			h.slow.Add(1)
			timeout = min(timeout, time.Second) // its socket is likely full: do not wait long
			_ = write()
			return
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		}
		beat.Reset(h.opts.Heartbeat)
	}
}

// appendEvent appends e's SSE lines, its id first, and counts it in the
// stream's figures (added to the hub's once per write: a shared counter
// per event would have every stream contend for it).
func (s *Subscription) appendEvent(b []byte, e *event) []byte {
	s.sent++
	if e.kind == KindResync {
		s.resyncs++
	}
	b = append(b, "id: "...)
	b = s.h.appendID(b, e.seq)
	b = append(b, '\n')
	return append(b, e.data...)
}
