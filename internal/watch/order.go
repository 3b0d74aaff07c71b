package watch

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
)

// Ordering. Events of one key must reach watchers in the order the
// database applied the changes, yet writes run concurrently and are
// acknowledged in whatever order they finish. Each key hashes to a stripe
// that counts the writes in flight and remembers its last activity (a
// write beginning or ending, an event published). A write that had its
// stripe to itself from beginning to end cannot have raced another change
// of its key, so its event is made from what it wrote. Any other change
// (an overlap, an unknown outcome, another instance's write) is sent as
// the entry's state read back from the database while holding the stripe:
// reads in turn see the database's order, so no watcher ever gets a state
// older than one it already has.
//
// A read-back may find a newer state than the change made: the change's own
// state was overwritten before it could be sent. That is told, not hidden:
// each stripe remembers the state last sent for its recently changed keys,
// and a change that reads back the state already sent gives its key a
// resync (every change makes a new state, so one that shows none lost one).

const (
	stripes = 1024
	// seenPerStripe bounds the keys a stripe remembers the sent state of
	// (64 Ki keys, a few MiB at most); forgetting a key changed within
	// seenFor gives it a resync, as its next change could not be checked.
	seenPerStripe = 64
	seenFor       = 10 * time.Second
)

type stripe struct {
	mu       sync.Mutex
	inflight int
	last     uint64 // the hub's tick at the stripe's last activity
	seen     map[string]seen
	gen      uint64 // the hub's recording generation seen belongs to
}

// seen is the state of a key last sent to watchers: present with a
// version, or gone.
type seen struct {
	version string
	present bool
	at      time.Time
}

// stateOf is the state e sends; ok is false for one that cannot be told
// apart from another (a put without a version, a resync).
func stateOf(e *event) (s seen, ok bool) {
	switch e.kind {
	case KindPut:
		return seen{version: e.version, present: true}, e.version != ""
	case KindDelete, KindExpire:
		return seen{}, true
	}
	return seen{}, false
}

func (s seen) same(o seen) bool { return s.present == o.present && s.version == o.version }

func seenKey(coll, key string) string { return coll + "\x00" + key }

// lastSent is the state last sent for a key, if the stripe remembers it.
func (h *Hub) lastSent(st *stripe, coll, key string) (seen, bool) {
	if g := h.gen.Load(); st.gen != g {
		clear(st.seen)
		st.gen = g
	}
	s, ok := st.seen[seenKey(coll, key)]
	return s, ok
}

// sending remembers the state of e, about to be published, as its key's
// last, and appends e to evs, after a resync for a key it had to forget
// too soon.
func (h *Hub) sending(evs []*event, st *stripe, e *event) []*event {
	if e == nil {
		return evs
	}
	h.lastSent(st, e.coll, e.key) // drops what an earlier recording left
	k := seenKey(e.coll, e.key)
	s, ok := stateOf(e)
	if !ok {
		delete(st.seen, k)
		return append(evs, e)
	}
	if st.seen == nil {
		st.seen = make(map[string]seen, seenPerStripe)
	}
	if _, known := st.seen[k]; !known && len(st.seen) >= seenPerStripe {
		var oldest string
		for sk, o := range st.seen {
			if oldest == "" || o.at.Before(st.seen[oldest].at) {
				oldest = sk
			}
		}
		if time.Since(st.seen[oldest].at) < seenFor {
			coll, key, _ := strings.Cut(oldest, "\x00")
			evs = append(evs, keyResyncEvent(coll, key, "more keys changed at once than this instance keeps track of: a later change of this key could go unseen"))
		}
		delete(st.seen, oldest)
	}
	s.at = time.Now()
	st.seen[k] = s
	return append(evs, e)
}

// settled is the events of a change of coll/key read back from the
// database: its state, or a resync of the key when that state was already
// sent. Every change makes a new state, so one that reads back no new
// state lost a state of its own, or of a change before it, to a write
// that came after; the key's watchers are told.
func (h *Hub) settled(evs []*event, st *stripe, coll, key, gone string) []*event {
	e := h.readBack(coll, key, gone)
	if read, ok := stateOf(e); ok {
		if last, known := h.lastSent(st, coll, key); known && last.same(read) {
			return append(evs, keyResyncEvent(coll, key, "the key changed again before this instance could send one of its states"))
		}
	}
	return h.sending(evs, st, e)
}

func (h *Hub) stripeOf(coll, key string) int {
	var mh maphash.Hash
	mh.SetSeed(h.seed)
	_, _ = mh.WriteString(coll)
	_ = mh.WriteByte(0)
	_, _ = mh.WriteString(key)
	return int(mh.Sum64() % stripes)
}

// writeOp is a write in flight: its stripes (ascending), the tick of its
// beginning on each, and whether each had no write in flight then.
type writeOp struct {
	h       *Hub
	stripes []int
	ticks   []uint64
	idle    []bool
}

// Begin implements store.Publisher.
func (h *Hub) Begin(changes []store.Change) func([]store.Change) {
	if !h.recording.Load() {
		// Nobody watches: no bookkeeping. Should a watcher arrive before
		// the write ends, its outcome is read back (endUnordered).
		return h.unordered
	}
	op := &writeOp{h: h, stripes: make([]int, 0, len(changes))}
	for _, c := range changes {
		op.stripes = append(op.stripes, h.stripeOf(c.Collection, c.Key))
	}
	slices.Sort(op.stripes)
	op.stripes = slices.Compact(op.stripes)
	op.ticks = make([]uint64, len(op.stripes))
	op.idle = make([]bool, len(op.stripes))
	for i, si := range op.stripes {
		st := &h.stripes[si]
		st.mu.Lock()
		op.idle[i] = st.inflight == 0
		st.inflight++
		op.ticks[i] = h.tick.Add(1)
		st.last = op.ticks[i]
		st.mu.Unlock()
	}
	return op.end
}

// end publishes a write's outcome: directly where it had its stripe to
// itself, else as the state read back.
func (op *writeOp) end(changes []store.Change) {
	h := op.h
	for _, si := range op.stripes { // ascending: no deadlock between batches
		h.stripes[si].mu.Lock()
	}
	if h.recording.Load() {
		evs := make([]*event, 0, len(changes))
		for _, c := range changes {
			i, _ := slices.BinarySearch(op.stripes, h.stripeOf(c.Collection, c.Key))
			st := &h.stripes[op.stripes[i]]
			direct := op.idle[i] && st.last == op.ticks[i]
			evs = h.eventsOf(evs, st, c, direct)
		}
		h.publish(evs...)
	}
	for _, si := range op.stripes {
		st := &h.stripes[si]
		st.inflight--
		st.last = h.tick.Add(1)
		st.mu.Unlock()
	}
}

// eventsOf appends the events of a change on its stripe st: made from it when
// direct, else read back; none when nothing changed.
func (h *Hub) eventsOf(evs []*event, st *stripe, c store.Change, direct bool) []*event {
	switch {
	case c.Kind == store.Unchanged:
		return evs
	case direct && c.Kind == store.Put:
		return h.sending(evs, st, h.putEvent(c.Collection, c.Key, c.Version, c.Value))
	case direct && c.Kind == store.Deleted:
		return h.sending(evs, st, newEvent(KindDelete, c.Collection, c.Key, eventData{Key: c.Key}))
	}
	return h.settled(evs, st, c.Collection, c.Key, KindDelete)
}

// endUnordered ends a write that began while nothing was recorded: if a
// watcher arrived meanwhile, each key it changed is read back.
func (h *Hub) endUnordered(changes []store.Change) {
	if !h.recording.Load() {
		return
	}
	for _, c := range changes {
		if c.Kind != store.Unchanged {
			h.settle(c.Collection, c.Key, KindDelete)
		}
	}
}

// settle publishes the state of a key read back from the database, under
// its stripe; gone is the event for an entry that is not there.
func (h *Hub) settle(coll, key, gone string) {
	st := &h.stripes[h.stripeOf(coll, key)]
	st.mu.Lock()
	defer st.mu.Unlock()
	if h.recording.Load() {
		h.publish(h.settled(nil, st, coll, key, gone)...)
	}
	st.last = h.tick.Add(1)
}

// readBack is the event of a key's current state in the database: a put,
// gone (delete or expire) when it is absent, or a resync of its collection
// when it cannot be read.
func (h *Hub) readBack(coll, key, gone string) *event {
	e, err := h.read(coll, key)
	switch {
	case err == nil:
		return h.putEvent(coll, key, e.Version, e.Value)
	case errors.Is(err, providers.ErrNotFound):
		return newEvent(gone, coll, key, eventData{Key: key})
	}
	h.opts.Log.WithError(err).WithField("collection", coll).Warn("watch: a changed entry could not be read back; its watchers get a resync")
	return resyncEvent(coll, "a change to key "+key+" could not be read from the database")
}

// BeginSweep implements store.Publisher.
func (h *Hub) BeginSweep() func(expired []store.Change, unnamed int) {
	start := h.tick.Load()
	return func(expired []store.Change, unnamed int) {
		if !h.recording.Load() {
			return
		}
		if unnamed > 0 {
			h.publish(resyncEvent("", fmt.Sprintf("a sweep removed %d expired entries without naming them (the database provider does not implement providers.ExpiryReporter)", unnamed)))
		}
		for _, c := range expired {
			h.expired(c.Collection, c.Key, start)
		}
	}
}

// expired publishes the expiry of an entry a sweep that began at tick
// start removed. If its stripe was busy since, the entry is read back: a
// write may have created it again.
func (h *Hub) expired(coll, key string, start uint64) {
	st := &h.stripes[h.stripeOf(coll, key)]
	st.mu.Lock()
	defer st.mu.Unlock()
	if !h.recording.Load() {
		return
	}
	if st.inflight == 0 && st.last <= start {
		h.publish(h.sending(nil, st, newEvent(KindExpire, coll, key, eventData{Key: key}))...)
	} else {
		h.publish(h.settled(nil, st, coll, key, KindExpire)...)
	}
	st.last = h.tick.Add(1)
}

// Follow makes other instances' changes, as the database's change feed
// reports them, reach this hub's watchers: each is read back from the
// database by one of a few workers (one per group of keys, so one key's
// changes stay in order) and a feed gap becomes a resync.
func (h *Hub) Follow(feed providers.ChangeFeed) {
	const workers, queue = 4, 4096
	h.remote = make([]chan providers.Change, workers)
	for i := range h.remote {
		ch := make(chan providers.Change, queue)
		h.remote[i] = ch
		go func() {
			for {
				select {
				case c := <-ch:
					gone := KindDelete
					if c.Kind == providers.ChangeExpired {
						gone = KindExpire
					}
					h.settle(c.Collection, c.Key, gone)
				case <-h.done:
					return
				}
			}
		}()
	}
	if d, ok := feed.(providers.DetailedChangeFeed); ok {
		d.ChangeDetails(h.remoteChange)
	} else {
		feed.Changes(func(coll, key string) { h.remoteChange(providers.Change{Collection: coll, Key: key}) })
	}
}

// remoteChange queues a change another instance made; it never blocks the
// feed. When the queue is full the change is dropped and every watcher
// gets a resync instead.
func (h *Hub) remoteChange(c providers.Change) {
	if !h.recording.Load() {
		return
	}
	if c.Collection == "" {
		h.publish(resyncEvent("", "the database's change feed reconnected or reported missed changes"))
		return
	}
	select {
	case h.remote[h.stripeOf(c.Collection, c.Key)%len(h.remote)] <- c:
	default:
		h.publish(resyncEvent("", "changes from other instances arrived faster than this instance could read them"))
	}
}
