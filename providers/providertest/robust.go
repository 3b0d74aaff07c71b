package providertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
)

// The robustness cases every storage contract shares (HonoursContext and
// CloseWhileBusy), written once over the calls of a contract: the database
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
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(busyBound):
		t.Fatalf("calls in flight at Close have not returned %v after it", busyBound)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	closed(t)
}

// databaseHonoursContext is HonoursContext for a database: every method of
// the contract and of the capabilities it has.
func databaseHonoursContext(t *testing.T, db providers.Database) {
	mustSet(t, db, "ctx", "present", "before")
	calls := []contextCall{
		{name: "Set", call: func(ctx context.Context) error { return db.Set(ctx, "ctx", "new", []byte("after")) }},
		{name: "Set of an existing key", call: func(ctx context.Context) error { return db.Set(ctx, "ctx", "present", []byte("after")) }},
		{name: "Get", call: func(ctx context.Context) error { _, err := db.Get(ctx, "ctx", "present"); return err }},
		{name: "Delete", call: func(ctx context.Context) error { _, err := db.Delete(ctx, "ctx", "present"); return err }},
		{name: "Query", call: func(ctx context.Context) error { _, err := db.Query(ctx, "ctx", providers.Query{}); return err }},
		{name: "Ping", call: db.Ping, anyError: true},
	}
	if v, ok := db.(providers.Versioned); ok {
		calls = append(calls,
			contextCall{name: "Put", call: func(ctx context.Context) error {
				_, err := v.Put(ctx, "ctx", "new", []byte("after"), providers.Write{})
				return err
			}},
			contextCall{name: "GetEntry", call: func(ctx context.Context) error { _, err := v.GetEntry(ctx, "ctx", "present"); return err }},
			contextCall{name: "Remove", call: func(ctx context.Context) error {
				_, err := v.Remove(ctx, "ctx", "present", providers.Condition{MustExist: true})
				return err
			}})
	}
	if b, ok := db.(providers.Batcher); ok {
		calls = append(calls, contextCall{name: "Apply", call: func(ctx context.Context) error {
			_, err := b.Apply(ctx, []providers.BatchOp{{Collection: "ctx", Key: "new", Value: []byte("after")}})
			return err
		}})
	}
	if e, ok := db.(providers.Expiring); ok {
		calls = append(calls, contextCall{name: "Sweep", call: func(ctx context.Context) error { _, err := e.Sweep(ctx, 10); return err }})
	}
	honoursContext(t, calls, func(t *testing.T, when string) {
		t.Helper()
		if _, err := db.Get(context.Background(), "ctx", "new"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("%s, Get of the key they wrote: err = %v, want ErrNotFound (nothing written)", when, err)
		}
		mustGet(t, db, "ctx", "present", "before")
	})
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

// cacheHonoursContext is HonoursContext for a cache: a Get must not pass a
// done context off as a miss, and Set, Delete and Clear change nothing.
func cacheHonoursContext(t *testing.T, c providers.Cache) {
	cacheSet(t, c, "present", "before", 0)
	honoursContext(t, []contextCall{
		{name: "Set", call: func(ctx context.Context) error { return c.Set(ctx, "new", []byte("after"), 0) }},
		{name: "Set of an existing key", call: func(ctx context.Context) error { return c.Set(ctx, "present", []byte("after"), 0) }},
		{name: "Get", call: func(ctx context.Context) error { _, _, err := c.Get(ctx, "present"); return err }},
		{name: "Get of a missing key", call: func(ctx context.Context) error { _, _, err := c.Get(ctx, "missing"); return err }},
		{name: "Delete", call: func(ctx context.Context) error { return c.Delete(ctx, "present") }},
		{name: "Clear", call: c.Clear},
		{name: "Stats", call: func(ctx context.Context) error { _, err := c.Stats(ctx); return err }},
	}, func(t *testing.T, when string) {
		t.Helper()
		if v, ok, err := c.Get(context.Background(), "new"); err != nil || ok {
			t.Fatalf("%s, Get of the key they set = %q, %v, %v; want a miss (nothing set)", when, v, ok, err)
		}
		if v, ok, err := c.Get(context.Background(), "present"); err != nil || !ok || string(v) != "before" {
			t.Fatalf("%s, Get of the key they overwrote, deleted and cleared = %q, %v, %v; want a hit with \"before\"", when, v, ok, err)
		}
	})
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
