package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// rig is a hub wired to a store over the real memory provider, as navius
// wires them.
type rig struct {
	hub   *Hub
	st    *store.Store
	db    providers.Database
	reads atomic.Int64
}

func newRig(t *testing.T, opts Options, db providers.Database) *rig {
	t.Helper()
	if opts.MaxWatchers == 0 {
		opts.MaxWatchers = 100
	}
	if opts.Buffer == 0 {
		opts.Buffer = 1024
	}
	if opts.History == 0 {
		opts.History = 64
	}
	r := &rig{db: db}
	r.hub = New(opts, func(coll, key string) (providers.Entry, error) {
		r.reads.Add(1)
		return r.st.Latest(context.Background(), coll, key)
	})
	r.st = store.New(db, nil, store.Options{Timeout: time.Second, Publish: r.hub})
	t.Cleanup(func() { r.hub.Close(); _ = r.st.Close() })
	return r
}

func (r *rig) subscribe(t *testing.T, req Request) *Subscription {
	t.Helper()
	sub, err := r.hub.Subscribe(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// got is an event as a client reads it.
type got struct {
	kind, key, etag, value, reason string
	omitted                        bool
	seq                            uint64
}

func (g got) String() string {
	if g.kind == KindResync {
		return "resync"
	}
	s := g.kind + " " + g.key
	if g.kind == KindPut {
		s += "=" + g.value
	}
	return s
}

func decode(t *testing.T, e *event) got {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(e.data), "\n\n"), "\n")
	if len(lines) != 2 || lines[0] != "event: "+e.kind || !strings.HasPrefix(lines[1], "data: ") {
		t.Fatalf("event lines %q", e.data)
	}
	var d struct {
		Key, ETag, Value, Reason string
		ValueOmitted             bool `json:"value_omitted"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &d); err != nil {
		t.Fatalf("event data %q: %v", lines[1], err)
	}
	return got{kind: e.kind, key: d.Key, etag: d.ETag, value: d.Value, reason: d.Reason, omitted: d.ValueOmitted, seq: e.seq}
}

// next reads the subscription's next event, failing after a bound.
func next(t *testing.T, sub *Subscription) got {
	t.Helper()
	select {
	case e := <-sub.w.ch:
		return decode(t, e)
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return got{}
}

// want reads len(events) events and compares their short forms.
func want(t *testing.T, sub *Subscription, events ...string) []got {
	t.Helper()
	var out []got
	for _, w := range events {
		g := next(t, sub)
		if g.String() != w {
			t.Fatalf("event %q, want %q (after %v)", g, w, out)
		}
		out = append(out, g)
	}
	return out
}

func quiet(t *testing.T, sub *Subscription) {
	t.Helper()
	select {
	case e := <-sub.w.ch:
		t.Fatalf("unexpected event %v", decode(t, e))
	case <-time.After(50 * time.Millisecond):
	}
}

func put(t *testing.T, st *store.Store, coll, key, value string, w providers.Write) string {
	t.Helper()
	v, err := st.Put(context.Background(), coll, key, []byte(value), w)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLocalChanges: puts, deletes, batches and expiries made through the
// store reach a watcher of their collection in order, with their ETags;
// failed preconditions and deletes of nothing send nothing; other
// collections' changes do not arrive.
func TestLocalChanges(t *testing.T) {
	r := newRig(t, Options{}, memory.NewDatabase())
	ctx := context.Background()
	sub := r.subscribe(t, Request{Collection: "c"})
	v1 := put(t, r.st, "c", "a", "1", providers.Write{})
	put(t, r.st, "other", "a", "x", providers.Write{})
	if _, err := r.st.Put(ctx, "c", "a", []byte("no"), providers.Write{Condition: providers.Condition{Match: []string{"0000000000000001"}}}); err == nil {
		t.Fatal("a write with a wrong If-Match succeeded")
	}
	v2 := put(t, r.st, "c", "a", "2", providers.Write{Condition: providers.Condition{Match: []string{v1}}})
	if _, err := r.st.Delete(ctx, "c", "nothing", providers.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Delete(ctx, "c", "a", providers.Condition{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.st.Apply(ctx, []providers.BatchOp{{Collection: "c", Key: "b", Value: []byte("bin\xff")}, {Collection: "other", Key: "z", Value: []byte("z")}, {Collection: "c", Key: "d", Delete: true}})
	if err != nil {
		t.Fatal(err)
	}
	put(t, r.st, "c", "t", "short-lived", providers.Write{TTL: 20 * time.Millisecond})
	evs := want(t, sub, "put a=1", "put a=2", "delete a", "put b=", "put t=short-lived")
	if evs[0].etag != `"`+v1+`"` || evs[1].etag != `"`+v2+`"` || evs[3].etag != `"`+res[0].Version+`"` {
		t.Errorf("etags %q %q %q, want the versions the writes returned", evs[0].etag, evs[1].etag, evs[3].etag)
	}
	time.Sleep(30 * time.Millisecond)
	if n, err := r.st.Sweep(ctx, 100); err != nil || n != 1 {
		t.Fatalf("sweep removed %d: %v", n, err)
	}
	want(t, sub, "expire t")
	quiet(t, sub)
	for i := 1; i < len(evs); i++ {
		if evs[i].seq <= evs[i-1].seq {
			t.Errorf("event ids not increasing: %v", evs)
		}
	}
	if r.reads.Load() != 0 {
		t.Errorf("%d entries read back for writes that raced nothing", r.reads.Load())
	}
}

// TestValues: text values go as value, bytes as value_base64, values above
// MaxValueBytes without their bytes.
func TestValues(t *testing.T) {
	r := newRig(t, Options{MaxValueBytes: 8}, memory.NewDatabase())
	sub := r.subscribe(t, Request{Collection: "c"})
	put(t, r.st, "c", "text", "héllo", providers.Write{})
	put(t, r.st, "c", "bytes", "\xff\x00", providers.Write{})
	put(t, r.st, "c", "big", "0123456789", providers.Write{})
	var raw []string
	for range 3 {
		raw = append(raw, string((<-sub.w.ch).data))
	}
	for i, wantIn := range []string{`"value":"héllo"`, `"value_base64":"/wA="`, `"value_omitted":true,"size":10`} {
		if !strings.Contains(raw[i], wantIn) {
			t.Errorf("event %d = %q, want %s", i, raw[i], wantIn)
		}
	}
	if strings.Contains(raw[2], "0123") {
		t.Errorf("an omitted value was sent: %q", raw[2])
	}
}

// TestPrefix: a watcher with a prefix gets only those keys (and resyncs).
func TestPrefix(t *testing.T) {
	r := newRig(t, Options{}, memory.NewDatabase())
	sub := r.subscribe(t, Request{Collection: "c", Prefix: "user:"})
	put(t, r.st, "c", "order:1", "o", providers.Write{})
	put(t, r.st, "c", "user:1", "u", providers.Write{})
	r.hub.publish(resyncEvent("", "test"))
	want(t, sub, "put user:1=u", "resync")
}

// TestResume: a stream that resumes with the id of the last event it got
// receives what it missed; an id the hub does not hold any more, or from
// another process, gets a resync first.
func TestResume(t *testing.T) {
	r := newRig(t, Options{History: 4}, memory.NewDatabase())
	first := r.subscribe(t, Request{Collection: "c"})
	put(t, r.st, "c", "a", "1", providers.Write{})
	last := next(t, first)
	put(t, r.st, "c", "a", "2", providers.Write{})
	put(t, r.st, "other", "x", "x", providers.Write{})
	put(t, r.st, "c", "b", "3", providers.Write{})
	id := string(r.hub.appendID(nil, last.seq))
	resumed := r.subscribe(t, Request{Collection: "c", LastEventID: id})
	want(t, resumed, "put a=2", "put b=3")

	for i := range 4 { // history 4: the id of "put a=1" falls out
		put(t, r.st, "c", "a", fmt.Sprint(i), providers.Write{})
	}
	late := r.subscribe(t, Request{Collection: "c", LastEventID: id})
	if g := want(t, late, "resync"); !strings.Contains(g[0].reason, "no longer holds") {
		t.Errorf("reason %q", g[0].reason)
	}
	foreign := r.subscribe(t, Request{Collection: "c", LastEventID: "deadbeef-7"})
	want(t, foreign, "resync")
	put(t, r.st, "c", "after", "y", providers.Write{})
	want(t, late, "put after=y")
	want(t, foreign, "put after=y")
}

// TestStopsRecording: once nobody has watched for resumeWindow, nothing is
// recorded and no entry is read; a stream resuming from before gets a
// resync.
func TestStopsRecording(t *testing.T) {
	r := newRig(t, Options{}, memory.NewDatabase())
	put(t, r.st, "c", "a", "unwatched", providers.Write{})
	sub, err := r.hub.Subscribe(Request{Collection: "c"})
	if err != nil {
		t.Fatal(err)
	}
	put(t, r.st, "c", "a", "1", providers.Write{})
	id := string(r.hub.appendID(nil, next(t, sub).seq))
	sub.Close()
	r.hub.mu.Lock()
	gen := r.hub.idleGen
	r.hub.mu.Unlock()
	r.hub.stopRecording(gen) // as resumeWindow's timer does
	put(t, r.st, "c", "a", "2", providers.Write{})
	if r.hub.recording.Load() || r.reads.Load() != 0 {
		t.Fatalf("recording %v, %d reads with nobody watching", r.hub.recording.Load(), r.reads.Load())
	}
	resumed := r.subscribe(t, Request{Collection: "c", LastEventID: id})
	want(t, resumed, "resync")
}

// TestMaxWatchers: one more than MaxWatchers is refused, and a closed
// hub refuses everyone.
func TestMaxWatchers(t *testing.T) {
	r := newRig(t, Options{MaxWatchers: 2}, memory.NewDatabase())
	r.subscribe(t, Request{Collection: "a"})
	s2 := r.subscribe(t, Request{Collection: "b"})
	if _, err := r.hub.Subscribe(Request{Collection: "c"}); err != ErrTooManyWatchers {
		t.Fatalf("third watcher: %v", err)
	}
	s2.Close()
	r.subscribe(t, Request{Collection: "c"})
	if st := r.hub.Stats(); st.Watchers != 2 {
		t.Errorf("Stats().Watchers = %d", st.Watchers)
	}
	r.hub.Close()
	if _, err := r.hub.Subscribe(Request{Collection: "d"}); err != ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}

// TestLagged: a watcher whose buffer overflows is marked behind and gets
// nothing more; the others are not held up.
func TestLagged(t *testing.T) {
	r := newRig(t, Options{Buffer: 3}, memory.NewDatabase())
	slow := r.subscribe(t, Request{Collection: "c"})
	fast := r.subscribe(t, Request{Collection: "c"})
	for i := range 6 {
		put(t, r.st, "c", "k", fmt.Sprint(i), providers.Write{})
		want(t, fast, fmt.Sprintf("put k=%d", i))
	}
	select {
	case <-slow.w.lagged:
	default:
		t.Fatal("the slow watcher is not marked behind")
	}
	if len(slow.w.ch) != 3 {
		t.Errorf("the slow watcher holds %d events, want its buffer of 3", len(slow.w.ch))
	}
}

// TestConcurrentWritesConverge: many writers race on a few keys; whatever
// the interleaving, the last event a watcher gets for each key is the
// database's final state, within a key no event is older than one before
// it (a version, once sent, never comes back after a newer one), and every
// state the database went through is sent or the key gets a resync.
// Half of the writers are another instance: they write to the database
// behind the store and announce it on the change feed.
func TestConcurrentWritesConverge(t *testing.T) {
	db := &slowAck{Database: memory.NewDatabase(), log: map[string][]string{}}
	r := newRig(t, Options{Buffer: 1 << 16}, db)
	feed := providers.NewChangeHub("test", 0, func(ctx context.Context) error { <-ctx.Done(); return nil })
	defer feed.Close()
	r.hub.Follow(feed)
	sub := r.subscribe(t, Request{Collection: "c"})
	const writers, each, keys = 8, 200, 3
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		remote := w%2 == 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprint("k", (w+i)%keys)
				var err error
				switch {
				case i%10 == 9 && remote:
					_, err = db.Remove(ctx, "c", key, providers.Condition{})
				case i%10 == 9:
					_, err = r.st.Delete(ctx, "c", key, providers.Condition{})
				case remote:
					_, err = db.Put(ctx, "c", key, []byte(fmt.Sprintf("%d-%d", w, i)), providers.Write{})
				default:
					_, err = r.st.Put(ctx, "c", key, []byte(fmt.Sprintf("%d-%d", w, i)), providers.Write{})
				}
				if err != nil {
					t.Error(err)
					return
				}
				if remote {
					feed.Deliver("c", key)
				}
			}
		}()
	}
	wg.Wait()
	final := map[string]string{}
	for k := range keys {
		key := fmt.Sprint("k", k)
		e, err := r.st.Latest(ctx, "c", key)
		switch {
		case err == nil:
			final[key] = "put " + key + "=" + string(e.Value)
		case errors.Is(err, providers.ErrNotFound):
			final[key] = "delete " + key
		default:
			t.Fatal(err)
		}
	}
	last := map[string]string{}
	pos := map[string]int{}       // how far into the database's log each key's events have come
	resynced := map[string]bool{} // a resync came before the next skip
	owed := map[string]int{}      // skips no resync has told of yet
	resyncs := 0
	deadline := time.Now().Add(10 * time.Second)
	for len(last) < keys || !maps.Equal(last, final) {
		if time.Now().After(deadline) {
			t.Fatalf("the last events %v never became the database's state %v", last, final)
		}
		var g got
		select {
		case e := <-sub.w.ch:
			g = decode(t, e)
		case <-time.After(100 * time.Millisecond):
			continue
		}
		if g.kind == KindResync {
			if g.key == "" {
				t.Fatalf("a resync of the whole collection: %s", g.reason)
			}
			resyncs++
			if owed[g.key] > 0 {
				owed[g.key] = 0 // told after the skip
			} else {
				resynced[g.key] = true // told before it
			}
			continue
		}
		last[g.key] = g.String()
		state := strings.Trim(g.etag, `"`)
		if g.kind == KindDelete {
			state = "-"
		}
		log, from := db.log[g.key], pos[g.key]
		i := from
		for i < len(log) && log[i] != state {
			i++
		}
		if i == len(log) {
			t.Fatalf("%s: event %s (%s) is older than an event before it, or was never written", g.key, g, state)
		}
		if i > from && !resynced[g.key] {
			owed[g.key]++ // skipped states: a resync of the key must follow
		}
		// After a resync a delete may stand for a later one of the log.
		resynced[g.key] = resynced[g.key] && state == "-"
		pos[g.key] = i + 1
	}
	for deadline := time.After(5 * time.Second); ; {
		k := ""
		for key, n := range owed {
			if n > 0 {
				k = key
			}
		}
		if k == "" {
			break
		}
		select {
		case e := <-sub.w.ch:
			if g := decode(t, e); g.kind == KindResync && g.key == k {
				owed[k] = 0
			}
		case <-deadline:
			t.Fatalf("%s: states %v were skipped and no resync of the key followed", k, db.log[k])
		}
	}
	t.Logf("%d entries read back for %d writes; %d resyncs of a key for states overwritten before they were sent", r.reads.Load(), writers*each, resyncs)
}

// slowAck is the memory provider taking a random while to acknowledge a
// write it has made (acknowledgements then come in another order than the
// writes, as from a networked database); it logs each key's states in the
// order it applied them: a version, or "-" for a delete.
type slowAck struct {
	*memory.Database
	mu  sync.Mutex
	log map[string][]string
}

func (s *slowAck) Put(ctx context.Context, c, k string, v []byte, w providers.Write) (string, error) {
	s.mu.Lock()
	ver, err := s.Database.Put(ctx, c, k, v, w)
	if err == nil {
		s.log[k] = append(s.log[k], ver)
	}
	s.mu.Unlock()
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	return ver, err
}

func (s *slowAck) Remove(ctx context.Context, c, k string, cond providers.Condition) (bool, error) {
	s.mu.Lock()
	ok, err := s.Database.Remove(ctx, c, k, cond)
	if ok {
		s.log[k] = append(s.log[k], "-")
	}
	s.mu.Unlock()
	time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
	return ok, err
}

// TestRemoteChanges: changes another instance made (written to the shared
// database behind this store's back and announced on the feed) reach the
// watcher read back from the database; an expiry announced as such is an
// expire; a feed gap is a resync.
func TestRemoteChanges(t *testing.T) {
	db := memory.NewDatabase()
	r := newRig(t, Options{}, db)
	feed := providers.NewChangeHub("test", 0, func(ctx context.Context) error { <-ctx.Done(); return nil })
	defer feed.Close()
	r.hub.Follow(feed)
	sub := r.subscribe(t, Request{Collection: "c"})
	ctx := context.Background()
	v, err := db.Put(ctx, "c", "k", []byte("remote"), providers.Write{})
	if err != nil {
		t.Fatal(err)
	}
	feed.Deliver("c", "k")
	if g := want(t, sub, "put k=remote"); g[0].etag != `"`+v+`"` {
		t.Errorf("etag %s, want %s", g[0].etag, v)
	}
	if _, err := db.Remove(ctx, "c", "k", providers.Condition{}); err != nil {
		t.Fatal(err)
	}
	feed.Deliver("c", "k")
	want(t, sub, "delete k")
	feed.DeliverChange(providers.Change{Collection: "c", Key: "gone", Kind: providers.ChangeExpired})
	want(t, sub, "expire gone")
	feed.Deliver("", "")
	want(t, sub, "resync")
	feed.Deliver("other", "k")
	quiet(t, sub)
}

// TestRemoteReadFails: a changed entry that cannot be read back becomes a
// resync of its collection.
func TestRemoteReadFails(t *testing.T) {
	r := newRig(t, Options{}, &failingGet{Database: memory.NewDatabase()})
	feed := providers.NewChangeHub("test", 0, func(ctx context.Context) error { <-ctx.Done(); return nil })
	defer feed.Close()
	r.hub.Follow(feed)
	sub := r.subscribe(t, Request{Collection: "c"})
	feed.Deliver("c", "k")
	if g := want(t, sub, "resync"); !strings.Contains(g[0].reason, "could not be read") {
		t.Errorf("reason %q", g[0].reason)
	}
}

type failingGet struct{ providers.Database }

func (f *failingGet) Get(context.Context, string, string) ([]byte, error) {
	return nil, providers.Unavailable("database", fmt.Errorf("connection refused"))
}

// TestSweepWithoutNames: a provider that expires entries but does not name
// what its sweep removed makes every watcher resync.
func TestSweepWithoutNames(t *testing.T) {
	r := newRig(t, Options{}, &unnamedSweep{memory.NewDatabase()})
	sub := r.subscribe(t, Request{Collection: "c"})
	put(t, r.st, "c", "t", "x", providers.Write{TTL: 10 * time.Millisecond})
	want(t, sub, "put t=x")
	time.Sleep(20 * time.Millisecond)
	if n, err := r.st.Sweep(context.Background(), 10); n != 1 || err != nil {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if g := want(t, sub, "resync"); !strings.Contains(g[0].reason, "without naming them") {
		t.Errorf("reason %q", g[0].reason)
	}
}

// unnamedSweep is the memory provider without providers.ExpiryReporter.
type unnamedSweep struct{ m *memory.Database }

func (u *unnamedSweep) Get(ctx context.Context, c, k string) ([]byte, error) {
	return u.m.Get(ctx, c, k)
}
func (u *unnamedSweep) Set(ctx context.Context, c, k string, v []byte) error {
	return u.m.Set(ctx, c, k, v)
}
func (u *unnamedSweep) Delete(ctx context.Context, c, k string) (bool, error) {
	return u.m.Delete(ctx, c, k)
}
func (u *unnamedSweep) Query(ctx context.Context, c string, q providers.Query) (providers.Page, error) {
	return u.m.Query(ctx, c, q)
}
func (u *unnamedSweep) Ping(ctx context.Context) error { return u.m.Ping(ctx) }
func (u *unnamedSweep) Close() error                   { return u.m.Close() }
func (u *unnamedSweep) GetEntry(ctx context.Context, c, k string) (providers.Entry, error) {
	return u.m.GetEntry(ctx, c, k)
}
func (u *unnamedSweep) Put(ctx context.Context, c, k string, v []byte, w providers.Write) (string, error) {
	return u.m.Put(ctx, c, k, v, w)
}
func (u *unnamedSweep) Remove(ctx context.Context, c, k string, cond providers.Condition) (bool, error) {
	return u.m.Remove(ctx, c, k, cond)
}
func (u *unnamedSweep) Sweep(ctx context.Context, limit int) (int, error) {
	return u.m.Sweep(ctx, limit)
}

// TestCollectionResyncReachesPrefixWatchers: a resync of a whole
// collection reaches a watcher of a prefix of it; a resync of one key
// reaches only the watchers whose prefix covers the key.
func TestCollectionResyncReachesPrefixWatchers(t *testing.T) {
	r := newRig(t, Options{}, memory.NewDatabase())
	sub := r.subscribe(t, Request{Collection: "c", Prefix: "user:"})
	r.hub.publish(keyResyncEvent("c", "order:1", "not for this prefix"))
	r.hub.publish(keyResyncEvent("c", "user:1", "this key"))
	if g := next(t, sub); g.kind != KindResync || g.key != "user:1" {
		t.Fatalf("got %v %q, want the resync of user:1", g, g.key)
	}
	r.hub.publish(resyncEvent("c", "the whole collection"))
	if g := next(t, sub); g.kind != KindResync || g.reason != "the whole collection" {
		t.Fatalf("got %v (%s), want the collection's resync", g, g.reason)
	}
	quiet(t, sub)
}

// TestForgettingAKeyTooSoonIsAResync: a stripe remembers the sent state of
// at most seenPerStripe keys; making room by forgetting one changed within
// seenFor gives that key a resync, since a later change of it could no
// longer be checked.
func TestForgettingAKeyTooSoonIsAResync(t *testing.T) {
	r := newRig(t, Options{}, memory.NewDatabase())
	r.subscribe(t, Request{Collection: "c"})
	h := r.hub
	var keys []string
	for i := 0; len(keys) <= seenPerStripe; i++ {
		if k := fmt.Sprint("k", i); h.stripeOf("c", k) == 0 {
			keys = append(keys, k)
		}
	}
	st := &h.stripes[0]
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, k := range keys {
		evs := h.sending(nil, st, h.putEvent("c", k, fmt.Sprint("v", i), nil))
		switch {
		case i < seenPerStripe && len(evs) != 1:
			t.Fatalf("key %d of %d: %d events, want only its put", i, seenPerStripe, len(evs))
		case i == seenPerStripe && (len(evs) != 2 || evs[0].kind != KindResync || evs[0].key != keys[0]):
			t.Fatalf("the key past the bound: events %v, want a resync of %s, the oldest, then the put", evs, keys[0])
		}
	}
	if len(st.seen) != seenPerStripe {
		t.Errorf("the stripe remembers %d keys, want %d", len(st.seen), seenPerStripe)
	}
}
