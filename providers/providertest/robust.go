package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
)

// The robustness cases every storage contract shares (HonoursContext,
// HonoursContextWhileBlocked and CloseWhileBusy), written once over the calls of a contract: the database
// and cache suites each say what their methods are.

// contextCall is one method of a contract, called with the context the case
// gives it.
type contextCall struct {
	name string
	call func(ctx context.Context) error
	// anyError: a health probe (Ping) may fail with an error of its own
	// ("no answer in time", as for a slow backend); any error will do.
	anyError bool
}

// honoursContext: each call whose context is already cancelled, or whose
// deadline has passed, fails with the context's error (anyError: with an
// error), and unchanged then finds that none of them changed anything.
// navius gives every request a deadline; a provider that writes after it
// has passed acknowledges nothing to a client that has gone.
func honoursContext(t *testing.T, calls []contextCall, unchanged func(t *testing.T, when string)) {
	t.Helper()
	bg := context.Background()
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	expired, cancelExpired := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancelExpired()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		for _, call := range calls {
			err := call.call(c.ctx)
			switch {
			case call.anyError && err == nil:
				t.Errorf("%s with a context %s succeeded", call.name, c.name)
			case !call.anyError && !errors.Is(err, c.want):
				t.Errorf("%s with a context %s: err = %v, want an error wrapping %v", call.name, c.name, err, c.want)
			}
		}
		unchanged(t, "after calls with a context "+c.name)
	}
}

// blockedAfter is how far into a call HonoursContextWhileBlocked ends its
// context: by then a call that has to wait (for a lock, a connection, the
// backend) is waiting.
const blockedAfter = 5 * time.Millisecond

// blockedWarmUp is how long the contenders of HonoursContextWhileBlocked
// run before the calls under test begin, to be under way.
const blockedWarmUp = 50 * time.Millisecond

// blockedBound is how long after its context ended a call may take to
// return in HonoursContextWhileBlocked: a bound for "gives up rather than
// waits out what holds it up", generous for a loaded machine (a call that
// had to finish an fsync first), not a measure of speed.
const blockedBound = 2 * time.Second

// contender is a call HonoursContextWhileBlocked makes over and over, from
// a goroutine of its own, to keep the provider busy while the calls under
// test run: long scans, large writes, a Clear.
type contender struct {
	name string
	call func(ctx context.Context, i int) error
}

// honoursContextWhileBlocked: while contenders keep the provider busy,
// each call, made with a context that is cancelled (then, in a second
// round, whose deadline passes) blockedAfter into it, returns within
// blockedBound of that, either done or failed with the context's error (a
// call's own answers, ErrNotFound and ErrPrecondition, will do too;
// anyError: any error). A provider that checks its context on entry and
// then waits, whatever the context says, on a lock held by a slow call or
// on a slow backend fails here. When the case ends the contenders' context
// is cancelled, and they too must return within blockedBound.
func honoursContextWhileBlocked(t *testing.T, contenders []contender, calls []contextCall) {
	t.Helper()
	busy, stopBusy := context.WithCancel(context.Background())
	defer stopBusy()
	var contending sync.WaitGroup
	started := make(chan struct{}, len(contenders))
	failed := make(chan error, len(contenders))
	var names []string
	var made atomic.Int64
	for _, c := range contenders {
		if !slices.Contains(names, c.name) {
			names = append(names, c.name)
		}
		contending.Add(1)
		go func() {
			defer contending.Done()
			started <- struct{}{}
			for i := 0; busy.Err() == nil; i++ {
				err := c.call(busy, i)
				made.Add(1)
				if err != nil && busy.Err() == nil {
					failed <- fmt.Errorf("%s, made over and over to keep the provider busy, failed: %v", c.name, err)
					return
				}
			}
		}()
	}
	for range contenders {
		<-started
	}
	time.Sleep(blockedWarmUp)
	busyWith := strings.Join(names, ", ") + " calls"
	var probes sync.WaitGroup
	stopped := 0
	for _, ends := range []struct {
		how  string
		want error
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancelled", context.Canceled, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(blockedAfter, cancel)
			return ctx, cancel
		}},
		{"whose deadline passed", context.DeadlineExceeded, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), blockedAfter)
		}},
	} {
		stopped += probeBlocked(t, calls, &probes, fmt.Sprintf("with a context %s %v into it, while %s kept the provider busy,", ends.how, blockedAfter, busyWith), ends.want, ends.ctx)
	}
	stopBusy()
	// What a provider's author may want to know: how busy it was, and how
	// many calls its contexts ended (the others had finished by then).
	t.Logf("%d calls kept the provider busy; %d of the %d calls under test returned their context's error after it ended", made.Load(), stopped, 2*len(calls))
	if !waitGroupWithin(&contending, blockedBound) {
		t.Errorf("%s, made to keep the provider busy, had not returned %v after their context was cancelled", busyWith, blockedBound)
	}
	close(failed)
	for err := range failed {
		t.Error(err)
	}
	// Calls that outlived the bound may still return now the contenders
	// stopped; give them the time they had, then leave them.
	waitGroupWithin(&probes, blockedBound)
}

// probeBlocked makes every call at once, each with a context of its own
// from newCtx, and checks how each returns, and that it returns within
// blockedBound of its context's end. It returns how many returned their
// context's error.
func probeBlocked(t *testing.T, calls []contextCall, probes *sync.WaitGroup, with string, want error, newCtx func() (context.Context, context.CancelFunc)) (stopped int) {
	t.Helper()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(calls))
	for i, call := range calls {
		probes.Add(1)
		go func() {
			defer probes.Done()
			ctx, cancel := newCtx()
			defer cancel()
			results <- result{i, call.call(ctx)}
		}()
	}
	returned := make([]bool, len(calls))
	timeout := time.After(blockedAfter + blockedBound)
	for range calls {
		select {
		case r := <-results:
			returned[r.i] = true
			call := calls[r.i]
			switch {
			case errors.Is(r.err, want):
				stopped++
			case r.err == nil || call.anyError:
			case !errors.Is(r.err, providers.ErrNotFound) && !errors.Is(r.err, providers.ErrPrecondition):
				t.Errorf("%s %s: err = %v, want success or an error wrapping %v", call.name, with, r.err, want)
			}
		case <-timeout:
			for i, done := range returned {
				if !done {
					t.Errorf("%s %s had not returned %v after its context ended: it waits out what holds it up (a lock, the backend) whatever its context says",
						calls[i].name, with, blockedBound)
				}
			}
			return stopped
		}
	}
	return stopped
}

// waitGroupWithin waits for wg for at most d, and says whether it is done.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// busyBound is how long CloseWhileBusy waits for Close and the calls in
// flight to return before it calls them hung: a bound for "returns", far
// beyond any backend's answer, not a measure of speed.
const busyBound = time.Minute

// closeWhileBusy: Close while other goroutines are in the middle of calls
// neither panics nor hangs; every call returns, and closed then checks
// that calls after Close fail. round makes worker w's i-th round of calls;
// its first error ends the worker (once Close has begun any error will
// do; before, none may happen).
func closeWhileBusy(t *testing.T, round func(w, i int) error, closeFn func() error, closed func(t *testing.T)) {
	t.Helper()
	const workers, warmUp, most = 4, 10, 5000
	var wg sync.WaitGroup
	busy := make(chan struct{}, workers)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signalled := false
			signal := func() {
				if !signalled {
					signalled = true
					busy <- struct{}{}
				}
			}
			defer signal()
			for i := range most {
				if err := round(w, i); err != nil {
					if i < warmUp {
						errs <- fmt.Errorf("worker %d failed before Close: %v", w, err)
					}
					return
				}
				if i == warmUp {
					signal()
				}
			}
		}()
	}
	for range workers {
		<-busy
	}
	closeErr := make(chan error, 1)
	go func() { closeErr <- closeFn() }()
	select {
	case err := <-closeErr:
		if err != nil {
			t.Fatalf("Close while calls are in flight: %v", err)
		}
	case <-time.After(busyBound):
		t.Fatalf("Close while calls are in flight has not returned after %v", busyBound)
	}
	if !waitGroupWithin(&wg, busyBound) {
		t.Fatalf("calls in flight at Close have not returned %v after it", busyBound)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	closed(t)
}

// databaseCalls are the calls HonoursContext and HonoursContextWhileBlocked
// make of a database: every method of the contract and of the capabilities
// it has, on collection coll, where present is a key that exists and
// absent one that does not.
func databaseCalls(db providers.Database, coll, present, absent string) []contextCall {
	calls := []contextCall{
		{name: "Set", call: func(ctx context.Context) error { return db.Set(ctx, coll, absent, []byte("after")) }},
		{name: "Set of an existing key", call: func(ctx context.Context) error { return db.Set(ctx, coll, present, []byte("after")) }},
		{name: "Get", call: func(ctx context.Context) error { _, err := db.Get(ctx, coll, present); return err }},
		{name: "Delete", call: func(ctx context.Context) error { _, err := db.Delete(ctx, coll, present); return err }},
		{name: "Query", call: func(ctx context.Context) error { _, err := db.Query(ctx, coll, providers.Query{}); return err }},
		{name: "Ping", call: db.Ping, anyError: true},
	}
	if v, ok := db.(providers.Versioned); ok {
		calls = append(calls,
			contextCall{name: "Put", call: func(ctx context.Context) error {
				_, err := v.Put(ctx, coll, absent, []byte("after"), providers.Write{})
				return err
			}},
			contextCall{name: "GetEntry", call: func(ctx context.Context) error { _, err := v.GetEntry(ctx, coll, present); return err }},
			contextCall{name: "Remove", call: func(ctx context.Context) error {
				_, err := v.Remove(ctx, coll, present, providers.Condition{MustExist: true})
				return err
			}})
	}
	if b, ok := db.(providers.Batcher); ok {
		calls = append(calls, contextCall{name: "Apply", call: func(ctx context.Context) error {
			_, err := b.Apply(ctx, []providers.BatchOp{{Collection: coll, Key: absent, Value: []byte("after")}})
			return err
		}})
	}
	if e, ok := db.(providers.Expiring); ok {
		calls = append(calls, contextCall{name: "Sweep", call: func(ctx context.Context) error { _, err := e.Sweep(ctx, 10); return err }})
	}
	return calls
}

// databaseHonoursContext is HonoursContext for a database: every method of
// the contract and of the capabilities it has.
func databaseHonoursContext(t *testing.T, db providers.Database) {
	mustSet(t, db, "ctx", "present", "before")
	honoursContext(t, databaseCalls(db, "ctx", "present", "new"), func(t *testing.T, when string) {
		t.Helper()
		if _, err := db.Get(context.Background(), "ctx", "new"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("%s, Get of the key they wrote: err = %v, want ErrNotFound (nothing written)", when, err)
		}
		mustGet(t, db, "ctx", "present", "before")
	})
}

// databaseHonoursContextWhileBlocked is HonoursContextWhileBlocked for a
// database: two goroutines scan a collection of 4 MiB with a filter that
// matches nothing, two write 16 KiB values to it (in batches of 32, for a
// Batcher), and every method of the database is called on that collection.
func databaseHonoursContextWhileBlocked(t *testing.T, db providers.Database) {
	ctx := context.Background()
	const coll, fill, size = "blocked", 256, 16 << 10
	value := bytes.Repeat([]byte("navius "), size/7)
	err := Concurrently(8, fill/8, func(w, i int) error {
		return db.Set(ctx, coll, fmt.Sprintf("fill-%d-%03d", w, i), value)
	})
	if err != nil {
		t.Fatalf("filling the collection: %v", err)
	}
	mustSet(t, db, coll, "present", "before")
	scan := contender{name: "Query", call: func(ctx context.Context, _ int) error {
		_, err := db.Query(ctx, coll, providers.Query{Filter: "matches no value"})
		return err
	}}
	write := contender{name: "Set", call: func(ctx context.Context, i int) error {
		return db.Set(ctx, coll, fmt.Sprintf("fill-%d-%03d", i%8, i/8%(fill/8)), value)
	}}
	if b, ok := db.(providers.Batcher); ok {
		ops := make([]providers.BatchOp, 32)
		for j, k := range batchKeys(db, coll, len(ops)) {
			ops[j] = providers.BatchOp{Collection: coll, Key: k, Value: value}
		}
		write = contender{name: "Apply", call: func(ctx context.Context, _ int) error {
			_, err := b.Apply(ctx, ops)
			return err
		}}
	}
	honoursContextWhileBlocked(t, []contender{scan, scan, write, write}, databaseCalls(db, coll, "present", "new"))
}

// databaseCloseWhileBusy is CloseWhileBusy for a database; what a call
// acknowledged before Close was not lost to it when the storage is
// reopened (the Durable case checks that part).
func databaseCloseWhileBusy(t *testing.T, db providers.Database) {
	ctx := context.Background()
	closeWhileBusy(t, func(w, i int) error {
		k := fmt.Sprintf("w%d-%d", w, i)
		err := db.Set(ctx, "busy", k, []byte(k))
		if err == nil {
			_, err = db.Get(ctx, "busy", k)
		}
		if err == nil && i%8 == 0 {
			_, err = db.Query(ctx, "busy", providers.Query{Limit: 4})
		}
		return err
	}, db.Close, func(t *testing.T) {
		if err := db.Set(ctx, "busy", "late", []byte("v")); err == nil {
			t.Fatal("Set after Close succeeded")
		}
		if _, err := db.Get(ctx, "busy", "w0-0"); err == nil || errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get after Close: err = %v, want a closed error", err)
		}
	})
}

// cacheCalls are the calls HonoursContext and HonoursContextWhileBlocked
// make of a cache: present is a key that is set, absent one that is not.
func cacheCalls(c providers.Cache, present, absent string) []contextCall {
	return []contextCall{
		{name: "Set", call: func(ctx context.Context) error { return c.Set(ctx, absent, []byte("after"), 0) }},
		{name: "Set of an existing key", call: func(ctx context.Context) error { return c.Set(ctx, present, []byte("after"), 0) }},
		{name: "Get", call: func(ctx context.Context) error { _, _, err := c.Get(ctx, present); return err }},
		{name: "Get of a missing key", call: func(ctx context.Context) error { _, _, err := c.Get(ctx, "missing"); return err }},
		{name: "Delete", call: func(ctx context.Context) error { return c.Delete(ctx, present) }},
		{name: "Clear", call: c.Clear},
		{name: "Stats", call: func(ctx context.Context) error { _, err := c.Stats(ctx); return err }},
	}
}

// cacheHonoursContext is HonoursContext for a cache: a Get must not pass a
// done context off as a miss, and Set, Delete and Clear change nothing.
func cacheHonoursContext(t *testing.T, c providers.Cache) {
	cacheSet(t, c, "present", "before", 0)
	honoursContext(t, cacheCalls(c, "present", "new"), func(t *testing.T, when string) {
		t.Helper()
		if v, ok, err := c.Get(context.Background(), "new"); err != nil || ok {
			t.Fatalf("%s, Get of the key they set = %q, %v, %v; want a miss (nothing set)", when, v, ok, err)
		}
		if v, ok, err := c.Get(context.Background(), "present"); err != nil || !ok || string(v) != "before" {
			t.Fatalf("%s, Get of the key they overwrote, deleted and cleared = %q, %v, %v; want a hit with \"before\"", when, v, ok, err)
		}
	})
}

// cacheHonoursContextWhileBlocked is HonoursContextWhileBlocked for a
// cache: two goroutines set 64 KiB values, one reads them, one clears the
// cache over and over, and every method of the cache is called.
func cacheHonoursContextWhileBlocked(t *testing.T, c providers.Cache) {
	const keys, size = 64, 64 << 10
	value := bytes.Repeat([]byte("navius "), size/7)
	for i := range keys {
		if err := c.Set(context.Background(), fmt.Sprintf("fill-%02d", i), value, 0); err != nil {
			t.Fatalf("filling the cache: %v", err)
		}
	}
	cacheSet(t, c, "present", "before", 0)
	set := contender{name: "Set", call: func(ctx context.Context, i int) error {
		return c.Set(ctx, fmt.Sprintf("fill-%02d", i%keys), value, 0)
	}}
	get := contender{name: "Get", call: func(ctx context.Context, i int) error {
		_, _, err := c.Get(ctx, fmt.Sprintf("fill-%02d", i%keys))
		return err
	}}
	clear := contender{name: "Clear", call: func(ctx context.Context, _ int) error { return c.Clear(ctx) }}
	honoursContextWhileBlocked(t, []contender{set, set, get, clear}, cacheCalls(c, "present", "new"))
}

// cacheCloseWhileBusy is CloseWhileBusy for a cache.
func cacheCloseWhileBusy(t *testing.T, c providers.Cache) {
	ctx := context.Background()
	closeWhileBusy(t, func(w, i int) error {
		k := fmt.Sprintf("w%d-%d", w, i)
		err := c.Set(ctx, k, []byte(k), 0)
		if err == nil {
			_, _, err = c.Get(ctx, k)
		}
		if err == nil && i%4 == 0 {
			err = c.Delete(ctx, k)
		}
		if err == nil && i%8 == 0 {
			_, err = c.Stats(ctx)
		}
		return err
	}, c.Close, func(t *testing.T) {
		if err := c.Set(ctx, "late", []byte("v"), 0); err == nil {
			t.Fatal("Set after Close succeeded")
		}
		if v, ok, err := c.Get(ctx, "w0-1"); err == nil {
			t.Fatalf("Get after Close = %q, %v, nil; want a closed error", v, ok)
		}
	})
}
