package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/client"
	"github.com/navius-dev/navius/internal/harness"
)

// clientIncrements has workers goroutines each add 1 to one counter each
// times through client.Update, spread over the servers at bases, and
// returns how many Updates succeeded and the final value read from the
// first server.
func clientIncrements(t *testing.T, bases []string, workers, each int) (acked, final int, elapsed time.Duration) {
	t.Helper()
	ctx := context.Background()
	clients := make([]*client.Client, len(bases))
	for i, b := range bases {
		clients[i] = mustClient(t, b, "")
	}
	var ok atomic.Int64
	elapsed = eachWorker(t, workers, each, func(w int) error {
		uctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err := clients[w%len(clients)].Update(uctx, "counters", "n", harness.Increment)
		if err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		ok.Add(1)
		return nil
	})
	e, err := clients[0].Get(ctx, "counters", "n")
	if err != nil {
		t.Fatal(err)
	}
	final, err = strconv.Atoi(string(e.Value))
	if err != nil {
		t.Fatalf("the counter holds %q", e.Value)
	}
	return int(ok.Load()), final, elapsed
}

// TestClientUpdate: 16 goroutines, 50 increments each, through the Go
// client's Update on one real binary: none is lost.
func TestClientUpdate(t *testing.T) {
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_LOG_ACCESS=false"})
	acked, final, took := clientIncrements(t, []string{p.URL}, 16, 50)
	t.Logf("%d increments through client.Update in %s (%.0f/s), final value %d", acked, took.Round(time.Millisecond), float64(acked)/took.Seconds(), final)
	if acked != 800 || final != acked {
		t.Fatalf("%d increments acknowledged, final value %d: %d lost", acked, final, acked-final)
	}
	_ = p.Stop(t)
}

// TestClientWatchAcrossRestart: a client's watch outlives its server. The
// server stops (the stream ends cleanly) and starts again on the same
// address, a new process that holds none of the old events: the watcher
// reconnects by itself, gets a resync, then the changes made after.
func TestClientWatchAcrossRestart(t *testing.T) {
	bin, _ := binary(t, "default")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	env := []string{"NAVIUS_DATABASE_URL=bolt://./data.db", "NAVIUS_LOG_ACCESS=false"}
	p := serve(t, bin, dir, env, "--listen", addr)
	ctx := context.Background()
	c := mustClient(t, p.URL, "")
	w, err := c.Watch(ctx, "pets")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := c.Put(ctx, "pets", "tom", []byte("cat")); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, client.EventPut, "tom", "cat")
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
	p = serve(t, bin, dir, env, "--listen", addr)
	if e := harness.NextEvent(t, w, 20*time.Second); e.Type != client.EventResync {
		t.Fatalf("first event after the restart: %+v, want resync", e)
	}
	if _, err := c.Put(ctx, "pets", "rex", []byte("dog")); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, client.EventPut, "rex", "dog")
	if e, err := c.Get(ctx, "pets", "tom"); err != nil || string(e.Value) != "cat" {
		t.Fatalf("tom after the restart: %q %v", e.Value, err)
	}
	_ = p.Stop(t)
	if _, err := c.Get(ctx, "pets", "tom"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Get with the server gone: %v, want ErrUnavailable", err)
	}
}
