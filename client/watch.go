package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// EventType is what a watch event reports.
type EventType string

const (
	// EventPut: the key was written; Value and ETag are its new ones.
	EventPut EventType = "put"
	// EventDelete: the key was deleted.
	EventDelete EventType = "delete"
	// EventExpire: the key expired (its ttl ran out).
	EventExpire EventType = "expire"
	// EventResync: changes may have been missed (the server's change feed
	// had a gap, this client fell behind, the stream resumed on a server
	// that no longer held what followed, or, with Key set, a state of that
	// key was overwritten before it could be sent). List the collection
	// again (or Get the key), then go on reading events.
	EventResync EventType = "resync"
)

// Event is one change of a watched collection.
type Event struct {
	Type EventType
	Key  string
	// ETag and Value of a put. ValueOmitted: the value was above the
	// server's watch.max_value_bytes and is not here; Get it.
	ETag         string
	Value        []byte
	ValueOmitted bool
	// Size is a put's value size in bytes.
	Size int
	// Reason tells why a resync was sent.
	Reason string
	// ID is the event's id, to resume after it (After).
	ID string
}

// WatchOption narrows or tunes a Watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	prefix, after string
	idle          time.Duration
	buffer        int
}

// Prefix watches only the keys that start with p.
func Prefix(p string) WatchOption { return func(o *watchOptions) { o.prefix = p } }

// After resumes after the event with this id (an earlier Watcher's
// LastEventID): the server sends what followed it when it still holds it,
// else a resync first.
func After(id string) WatchOption { return func(o *watchOptions) { o.after = id } }

// IdleTimeout: a stream silent for this long (no event, no heartbeat) is
// taken for dead and opened again; 0 means one minute, four of the
// server's default heartbeats.
func IdleTimeout(d time.Duration) WatchOption { return func(o *watchOptions) { o.idle = d } }

// Watcher is an open watch of a collection. It reconnects by itself after
// a failure, resuming after the last event it delivered.
type Watcher struct {
	c      *Client
	coll   string
	opts   watchOptions
	events chan Event
	parent context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error

	mu     sync.Mutex
	lastID string
}

// Watch opens a stream of the collection's changes. It returns once the
// server has registered the watch, so that every change made after it
// returns is delivered: list the collection after Watch, not before, and
// apply the events on top (an event may repeat what the list showed).
// The stream ends when ctx ends or Close is called, or on an error that
// retrying cannot fix (Err).
func (c *Client) Watch(ctx context.Context, collection string, opts ...WatchOption) (*Watcher, error) {
	o := watchOptions{idle: time.Minute, buffer: 64}
	for _, f := range opts {
		f(&o)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{c: c, coll: collection, opts: o, events: make(chan Event, o.buffer), parent: parent, cancel: cancel, done: make(chan struct{}), lastID: o.after}
	body, err := w.connect(ctx, c.opts.Retry.Attempts)
	if err != nil {
		cancel()
		return nil, err
	}
	go w.run(ctx, body)
	return w, nil
}

// Events delivers the events in order; it is closed when the watch ends.
func (w *Watcher) Events() <-chan Event { return w.events }

// Err tells, once Events is closed, why the watch ended: nil after Close,
// the context's error, or the server's refusal.
func (w *Watcher) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// LastEventID is the id of the last event delivered.
func (w *Watcher) LastEventID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastID
}

// Close ends the watch and waits for its goroutine.
func (w *Watcher) Close() error {
	w.cancel()
	<-w.done
	return nil
}

// connect opens the stream, trying up to attempts times (0: until ctx
// ends) while the server is unavailable.
func (w *Watcher) connect(ctx context.Context, attempts int) (io.ReadCloser, error) {
	q := url.Values{"watch": {"1"}}
	if w.opts.prefix != "" {
		q.Set("prefix", w.opts.prefix)
	}
	for try := 1; ; try++ {
		hdr := http.Header{"Accept": {"text/event-stream"}}
		if id := w.LastEventID(); id != "" {
			hdr.Set("Last-Event-ID", id)
		}
		resp, err := w.c.send(ctx, request{method: http.MethodGet, path: "/api/v1/" + w.coll, query: q, header: hdr})
		if err == nil {
			if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
				resp.Body.Close()
				return nil, fmt.Errorf("navius client: watching %s: the server answered %q, not text/event-stream: is it a navius that can watch?", w.coll, mt)
			}
			return resp.Body, nil
		}
		if !errors.Is(err, ErrUnavailable) || attempts > 0 && try >= attempts {
			return nil, err
		}
		if !w.c.pause(ctx, err, try) {
			return nil, ctx.Err()
		}
	}
}

// run reads streams until the watch ends, reconnecting after each one
// ends.
func (w *Watcher) run(ctx context.Context, body io.ReadCloser) {
	defer close(w.events) // after done: Err holds once Events is closed
	defer close(w.done)
	for {
		w.read(ctx, body)
		body.Close()
		var err error
		if body, err = w.connect(ctx, 0); err != nil {
			switch {
			case w.parent.Err() != nil:
				w.err = w.parent.Err()
			case ctx.Err() == nil: // not Close: the server refused
				w.err = err
			}
			return
		}
	}
}

// read delivers the events of one stream until it ends, goes silent for
// the idle timeout, or the watch ends.
func (w *Watcher) read(ctx context.Context, body io.ReadCloser) {
	idle := time.AfterFunc(w.opts.idle, func() { body.Close() })
	defer idle.Stop()
	r := bufio.NewReader(body)
	var name, id string
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		idle.Reset(w.opts.idle)
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if name != "" {
				ev := decodeEvent(EventType(name), data.String())
				ev.ID = id
				idle.Stop() // a slow consumer is not a silent server
				select {
				case w.events <- ev:
				case <-ctx.Done():
					return
				}
				idle.Reset(w.opts.idle)
				if id != "" {
					w.mu.Lock()
					w.lastID = id
					w.mu.Unlock()
				}
			}
			name, id = "", ""
			data.Reset()
		case field == "event":
			name = value
		case field == "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		case field == "id":
			id = value
		}
	}
}

func decodeEvent(t EventType, data string) Event {
	var d struct {
		Key          string  `json:"key"`
		ETag         string  `json:"etag"`
		Value        *string `json:"value"`
		ValueBase64  []byte  `json:"value_base64"`
		ValueOmitted bool    `json:"value_omitted"`
		Size         int     `json:"size"`
		Reason       string  `json:"reason"`
	}
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		// Something this client cannot read: the honest answer is that
		// it may have missed a change.
		return Event{Type: EventResync, Reason: "an event this client could not read: " + err.Error()}
	}
	ev := Event{Type: t, Key: d.Key, ETag: d.ETag, Value: d.ValueBase64, ValueOmitted: d.ValueOmitted, Size: d.Size, Reason: d.Reason}
	if d.Value != nil {
		ev.Value = []byte(*d.Value)
	}
	return ev
}
