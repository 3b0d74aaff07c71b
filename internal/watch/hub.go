// Package watch streams the changes of a collection to clients as
// Server-Sent Events (GET /api/v1/{collection}?watch=1).
//
// The Hub hears of every write made through this instance from the store
// (it is the store's Publisher) and of other instances' writes from the
// database's change feed, and hands each change to the watchers of its
// collection, in one order per key that follows the database's: a write
// whose order against another write of the same key cannot be told (they
// overlapped) is sent as the entry's state read back from the database,
// never as a value that may be older than one already sent.
//
// What cannot be told exactly becomes a "resync" event, which means "this
// stream may have missed changes: list the collection again": a change feed
// that reconnected or reported missed changes, a watcher that fell more
// than its buffer behind (it is then closed), a Last-Event-ID that the
// instance no longer holds, a sweep whose provider does not name what it
// removed. Nothing is dropped silently.
package watch

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/maphash"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
)

// Event kinds, the SSE event names.
const (
	KindPut    = "put"
	KindDelete = "delete"
	KindExpire = "expire"
	KindResync = "resync"
)

// Options configure a Hub.
type Options struct {
	// Heartbeat is the interval of the keep-alive comment on an idle
	// stream (watch.heartbeat).
	Heartbeat time.Duration
	// MaxWatchers bounds the open streams (watch.max_watchers).
	MaxWatchers int
	// Buffer is how many events a watcher may fall behind before it gets
	// a resync and is closed (watch.buffer).
	Buffer int
	// History is how many recent events the hub keeps for streams that
	// resume with Last-Event-ID (watch.history).
	History int
	// MaxValueBytes: a put whose value is larger is sent without it,
	// flagged value_omitted (watch.max_value_bytes).
	MaxValueBytes int
	// WriteTimeout bounds each write to a stream: a client that stops
	// reading is cut off after it (default 10s).
	WriteTimeout time.Duration
	// Log receives the hub's own problems (a change it could not read).
	Log logrus.FieldLogger
}

// resumeWindow is how long the hub keeps recording after its last watcher
// left, so that a client that reconnects resumes without a resync.
const resumeWindow = time.Minute

var (
	// ErrTooManyWatchers: the hub already serves MaxWatchers streams.
	ErrTooManyWatchers = errors.New("too many watchers")
	// ErrClosed: the hub is shutting down.
	ErrClosed = errors.New("the server is shutting down")
)

// event is one event, shared by every watcher that gets it.
type event struct {
	seq  uint64
	coll string // "" for a resync sent to every watcher
	key  string
	kind string
	// version is a put's version ("" when the provider keeps none), for
	// telling states of a key apart (see seen).
	version string
	data    []byte // the SSE lines after the id: "event: put\ndata: {...}\n\n"
}

// Hub fans changes out to watchers. Create it with New.
type Hub struct {
	opts  Options
	epoch string // tells this process's event ids from another's
	read  func(coll, key string) (providers.Entry, error)

	mu        sync.Mutex
	seq       uint64
	floor     uint64   // a stream may resume from an id at or after it
	history   []*event // ring of the most recent events, oldest at head
	head      int
	watchers  map[string]map[*watcher]struct{} // by collection
	n         atomic.Int64                     // open streams (changed under mu)
	idleTimer *time.Timer
	idleGen   uint64
	closed    bool

	// recording: watchers are open, or were within resumeWindow; only
	// then are changes turned into events.
	recording atomic.Bool
	done      chan struct{} // closed by Close
	seed      maphash.Seed
	stripes   [stripes]stripe
	tick      atomic.Uint64
	gen       atomic.Uint64        // counts recordings; a stripe forgets what it sent in an earlier one
	unordered func([]store.Change) // Begin's end while nothing is recorded
	remote    []chan providers.Change

	sent, resyncs, slow atomic.Uint64
}

// New returns a hub; read reads an entry from the database (not from a
// cache), for changes whose state must be read back.
func New(opts Options, read func(coll, key string) (providers.Entry, error)) *Hub {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	opts.Buffer = max(opts.Buffer, 1)
	opts.History = max(opts.History, 0)
	if opts.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		opts.Log = l
	}
	h := &Hub{opts: opts, epoch: hex.EncodeToString(b[:]), read: read, watchers: map[string]map[*watcher]struct{}{},
		history: make([]*event, 0, opts.History), done: make(chan struct{}), seed: maphash.MakeSeed()}
	h.unordered = h.endUnordered
	return h
}

// Stats are the hub's figures, for metrics.
type Stats struct {
	// Watchers is the number of open streams.
	Watchers int
	// Sent counts events written to streams (heartbeats excluded), Resyncs
	// the resync events among them, SlowCloses the streams closed because
	// their client did not keep up.
	Sent, Resyncs, SlowCloses uint64
}

// Stats returns the hub's figures.
func (h *Hub) Stats() Stats {
	return Stats{Watchers: int(h.n.Load()), Sent: h.sent.Load(), Resyncs: h.resyncs.Load(), SlowCloses: h.slow.Load()}
}

// Close ends every stream (they finish their response cleanly) and refuses
// new ones; the server calls it when shutdown begins. A nil hub does
// nothing.
func (h *Hub) Close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	h.recording.Store(false)
	if h.idleTimer != nil {
		h.idleTimer.Stop()
	}
	close(h.done)
}

// publish numbers events and hands them to the history and the watchers
// of their collection, in order. It drops them when nothing is recorded.
func (h *Hub) publish(evs ...*event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.recording.Load() {
		return
	}
	for _, e := range evs {
		if e == nil {
			continue
		}
		h.seq++
		e.seq = h.seq
		h.remember(e)
		if e.coll == "" {
			for _, ws := range h.watchers {
				for w := range ws {
					w.offer(e)
				}
			}
			continue
		}
		for w := range h.watchers[e.coll] {
			if w.wants(e) {
				w.offer(e)
			}
		}
	}
}

// remember keeps e in the history ring, forgetting the oldest when full.
func (h *Hub) remember(e *event) {
	if h.opts.History == 0 {
		h.floor = e.seq
		return
	}
	if len(h.history) < h.opts.History {
		h.history = append(h.history, e)
		return
	}
	h.floor = h.history[h.head].seq
	h.history[h.head] = e
	h.head = (h.head + 1) % len(h.history)
}

// stopRecording forgets the history once nobody has watched for
// resumeWindow: a later resume gets a resync, since changes made from now
// on are not recorded.
func (h *Hub) stopRecording(gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n.Load() > 0 || gen != h.idleGen || !h.recording.Load() {
		return
	}
	h.recording.Store(false)
	h.gen.Add(1)
	h.seq++ // an id never sent: every earlier one is now below the floor
	h.floor = h.seq
	clear(h.history)
	h.history, h.head = h.history[:0], 0
}

// appendID appends the SSE id of seq: this process's epoch and seq.
func (h *Hub) appendID(b []byte, seq uint64) []byte {
	b = append(b, h.epoch...)
	b = append(b, '-')
	return strconv.AppendUint(b, seq, 10)
}

// parseID reads an id this process made; ok is false for any other.
func (h *Hub) parseID(id string) (uint64, bool) {
	epoch, n, ok := strings.Cut(id, "-")
	if !ok || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// eventData is the JSON of an event's data line.
type eventData struct {
	Key          string  `json:"key,omitempty"`
	ETag         string  `json:"etag,omitempty"`
	Value        *string `json:"value,omitempty"`
	ValueBase64  []byte  `json:"value_base64,omitempty"`
	ValueOmitted bool    `json:"value_omitted,omitempty"`
	Size         *int    `json:"size,omitempty"`
	Reason       string  `json:"reason,omitempty"`
}

func newEvent(kind, coll, key string, d eventData) *event {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(d) // strings and bytes only: cannot fail
	data := make([]byte, 0, len("event: \ndata: \n")+len(kind)+b.Len())
	data = append(data, "event: "...)
	data = append(data, kind...)
	data = append(data, "\ndata: "...)
	data = append(data, b.String()...) // Encode ends it with the newline
	data = append(data, '\n')
	return &event{coll: coll, key: key, kind: kind, data: data}
}

// putEvent is a put of value with version; a value above MaxValueBytes
// goes without its bytes.
func (h *Hub) putEvent(coll, key, version string, value []byte) *event {
	size := len(value)
	d := eventData{Key: key, Size: &size}
	if version != "" {
		d.ETag = `"` + version + `"`
	}
	switch {
	case h.opts.MaxValueBytes > 0 && size > h.opts.MaxValueBytes:
		d.ValueOmitted = true
	case utf8.Valid(value):
		v := string(value)
		d.Value = &v
	default:
		d.ValueBase64 = value
	}
	e := newEvent(KindPut, coll, key, d)
	e.version = version
	return e
}

// resyncEvent tells the watchers of coll (every watcher for "") that they
// may have missed changes.
func resyncEvent(coll, reason string) *event {
	return newEvent(KindResync, coll, "", eventData{Reason: reason})
}

// keyResyncEvent tells the watchers of coll whose prefix covers key that
// they may have missed changes of it.
func keyResyncEvent(coll, key, reason string) *event {
	return newEvent(KindResync, coll, key, eventData{Key: key, Reason: reason})
}
