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

// honoursContext: a call whose context is already cancelled, or whose
// deadline has passed, fails with the context's error (Ping: with an
// error) and changes nothing, for every method of the contract and of the capabilities the
// database has. navius gives every request a deadline; a provider that
// writes after it has passed acknowledges nothing to a client that has
// gone.
func honoursContext(t *testing.T, db providers.Database) {
	bg := context.Background()
	mustSet(t, db, "ctx", "present", "before")
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	expired, cancelExpired := context.WithDeadline(bg, time.Now().Add(-time.Second))
	defer cancelExpired()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"cancelled", cancelled, context.Canceled}, {"past its deadline", expired, context.DeadlineExceeded}} {
		check := func(call string, err error) {
			t.Helper()
			if !errors.Is(err, c.want) {
				t.Errorf("%s with a context %s: err = %v, want an error wrapping %v", call, c.name, err, c.want)
			}
		}
		check("Set", db.Set(c.ctx, "ctx", "new", []byte("after")))
		check("Set of an existing key", db.Set(c.ctx, "ctx", "present", []byte("after")))
		_, err := db.Get(c.ctx, "ctx", "present")
		check("Get", err)
		_, err = db.Delete(c.ctx, "ctx", "present")
		check("Delete", err)
		_, err = db.Query(c.ctx, "ctx", providers.Query{})
		check("Query", err)
		// Ping is a health probe: any error will do (a provider may say
		// "no answer in time" as it would for a slow backend).
		if err := db.Ping(c.ctx); err == nil {
			t.Errorf("Ping with a context %s succeeded", c.name)
		}
		if v, ok := db.(providers.Versioned); ok {
			_, err = v.Put(c.ctx, "ctx", "new", []byte("after"), providers.Write{})
			check("Put", err)
			_, err = v.GetEntry(c.ctx, "ctx", "present")
			check("GetEntry", err)
			_, err = v.Remove(c.ctx, "ctx", "present", providers.Condition{MustExist: true})
			check("Remove", err)
		}
		if b, ok := db.(providers.Batcher); ok {
			_, err = b.Apply(c.ctx, []providers.BatchOp{{Collection: "ctx", Key: "new", Value: []byte("after")}})
			check("Apply", err)
		}
		if e, ok := db.(providers.Expiring); ok {
			_, err = e.Sweep(c.ctx, 10)
			check("Sweep", err)
		}
		// Nothing was written or deleted.
		if _, err := db.Get(bg, "ctx", "new"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("after writes with a context %s, Get of their key: err = %v, want ErrNotFound (nothing written)", c.name, err)
		}
		mustGet(t, db, "ctx", "present", "before")
	}
}

// closeWhileBusy: Close while other goroutines are in the middle of calls
// neither panics nor hangs; every call returns, a call after Close fails,
// and what a call acknowledged before Close was not lost to it when the
// storage is reopened (the Durable case checks that part).
func closeWhileBusy(t *testing.T, db providers.Database) {
	ctx := context.Background()
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
				k := fmt.Sprintf("w%d-%d", w, i)
				err := db.Set(ctx, "busy", k, []byte(k))
				if err == nil {
					_, err = db.Get(ctx, "busy", k)
				}
				if err == nil && i%8 == 0 {
					_, err = db.Query(ctx, "busy", providers.Query{Limit: 4})
				}
				if err != nil {
					if i < warmUp {
						errs <- fmt.Errorf("worker %d failed before Close: %v", w, err)
					}
					return // Close has begun: any error will do
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
	if err := db.Close(); err != nil {
		t.Fatalf("Close while calls are in flight: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := db.Set(ctx, "busy", "late", []byte("v")); err == nil {
		t.Fatal("Set after Close succeeded")
	}
	if _, err := db.Get(ctx, "busy", "w0-0"); err == nil || errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("Get after Close: err = %v, want a closed error", err)
	}
}
