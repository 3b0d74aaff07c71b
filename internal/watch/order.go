package watch

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

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
// older than one it already has. Overlapping writes may then show the
// newest value twice rather than each value once.

const stripes = 1024

type stripe struct {
	mu       sync.Mutex
	inflight int
	last     uint64 // the hub's tick at the stripe's last activity
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
			evs = append(evs, h.eventOf(c, direct))
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

// eventOf is the event of a change: made from it when direct, else read
// back; nil when nothing changed.
func (h *Hub) eventOf(c store.Change, direct bool) *event {
	switch {
	case c.Kind == store.Unchanged:
		return nil
	case direct && c.Kind == store.Put:
		return h.putEvent(c.Collection, c.Key, c.Version, c.Value)
	case direct && c.Kind == store.Deleted:
		return newEvent(KindDelete, c.Collection, c.Key, eventData{Key: c.Key})
	}
	return h.readBack(c.Collection, c.Key, KindDelete)
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
		h.publish(h.readBack(coll, key, gone))
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
// write may have created it again, and that write's own event is the one
// to keep.
func (h *Hub) expired(coll, key string, start uint64) {
	st := &h.stripes[h.stripeOf(coll, key)]
	st.mu.Lock()
	defer st.mu.Unlock()
	if !h.recording.Load() {
		return
	}
	if st.inflight == 0 && st.last <= start {
		h.publish(newEvent(KindExpire, coll, key, eventData{Key: key}))
	} else if e := h.readBack(coll, key, KindExpire); e.kind != KindPut {
		h.publish(e)
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
