package health

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
)

// TestTransitions: each change between UP and DOWN is told once (down with
// its error, up with how long it was down); runs that keep failing, or keep
// passing, tell nothing.
func TestTransitions(t *testing.T) {
	var down atomic.Bool
	s := New(time.Second, 0, "v1")
	s.Add(providers.HealthIndicator{Name: "database", Critical: true, Check: func(context.Context) providers.HealthResult {
		if down.Load() {
			return providers.HealthResult{Status: providers.StatusDown, Error: "connection refused"}
		}
		return providers.HealthResult{Status: providers.StatusUp}
	}}, ind("environment", false, providers.StatusUp, 0))
	var mu sync.Mutex
	var got []Transition
	s.OnTransition(func(tr Transition) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, tr)
	})
	ctx := context.Background()
	s.Check(ctx) // UP at the first check: nothing to tell
	down.Store(true)
	for range 3 {
		s.Check(ctx)
	}
	down.Store(false)
	s.Check(ctx)
	s.Check(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("transitions = %+v, want down then up", got)
	}
	if got[0].Name != "database" || got[0].Up || got[0].Error != "connection refused" {
		t.Errorf("down = %+v", got[0])
	}
	if got[1].Name != "database" || !got[1].Up || got[1].DownFor <= 0 {
		t.Errorf("up = %+v", got[1])
	}
}

// TestDownAtFirstCheck: an indicator down at the first check is told.
func TestDownAtFirstCheck(t *testing.T) {
	s := New(time.Second, 0, "v1")
	s.Add(ind("cache", false, providers.StatusDown, 0))
	var got []Transition
	s.OnTransition(func(tr Transition) { got = append(got, tr) })
	s.Check(context.Background())
	if len(got) != 1 || got[0].Name != "cache" || got[0].Up {
		t.Fatalf("transitions = %+v", got)
	}
}

// TestWatch runs the indicators without a caller until its context ends.
func TestWatch(t *testing.T) {
	var runs atomic.Int32
	s := New(time.Second, 0, "v1")
	s.Add(providers.HealthIndicator{Name: "n", Check: func(context.Context) providers.HealthResult {
		runs.Add(1)
		return providers.HealthResult{Status: providers.StatusUp}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if runs.Load() < 3 {
		t.Fatalf("%d runs", runs.Load())
	}
}
