package providers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestChangeHub drives a hub with a scripted session: it goes live,
// delivers changes, fails, and is restarted by the hub; subscribers hear a
// gap each time it goes down and comes back, and the health indicator
// tells why it is down.
func TestChangeHub(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	record := func(coll, key string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, coll+"/"+key)
	}
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	sessions := make(chan struct{}, 10)
	release := make(chan error)
	var h *ChangeHub
	h = NewChangeHub("chan", 0, func(ctx context.Context) error {
		sessions <- struct{}{}
		h.Listening()
		h.Deliver("c", "k")
		select {
		case err := <-release:
			return err
		case <-ctx.Done():
			return nil
		}
	})
	if h.FallbackTTL() != time.Second {
		t.Errorf("FallbackTTL = %v, want the one-second default", h.FallbackTTL())
	}
	if h.Live() || h.Subscribed() {
		t.Fatal("a hub without subscribers is live or subscribed")
	}
	h.Changes(record)
	<-sessions
	waitUntil(t, "live", h.Live)
	if want := []string{"/", "c/k"}; !equal(seen(), want) {
		t.Fatalf("delivered %v, want %v", seen(), want)
	}

	release <- errors.New("connection\nreset")
	<-sessions // the hub started the next session by itself
	waitUntil(t, "live again", h.Live)
	if want := []string{"/", "c/k", "/", "/", "c/k"}; !equal(seen(), want) {
		t.Fatalf("after a failure delivered %v, want %v (a gap going down and one coming back)", seen(), want)
	}
	if h.LastError() != "connection reset" {
		t.Errorf("LastError = %q, want the error on one line", h.LastError())
	}

	ind := h.HealthIndicator("x_changes", func(s string) string { return strings.ReplaceAll(s, "reset", "[scrubbed]") })
	if r := ind.Check(context.Background()); r.Status != StatusUp {
		t.Errorf("live feed reports %s: %s", r.Status, r.Error)
	}
	h.Close()
	if h.Live() {
		t.Error("live after Close")
	}
	r := ind.Check(context.Background())
	if r.Status != StatusDown || !strings.Contains(r.Error, "not listening on chan") || !strings.Contains(r.Error, "connection [scrubbed]") {
		t.Errorf("closed feed reports %s %q, want DOWN naming the channel and the scrubbed last error", r.Status, r.Error)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// TestChangeHubDetails: a detailed subscriber hears each change's kind, a
// plain one the same changes without it, and a plain Deliver is a
// ChangeWritten.
func TestChangeHubDetails(t *testing.T) {
	var mu sync.Mutex
	var plain []string
	var detailed []Change
	h := NewChangeHub("chan", 0, func(ctx context.Context) error { <-ctx.Done(); return nil })
	defer h.Close()
	h.Changes(func(coll, key string) { mu.Lock(); plain = append(plain, coll+"/"+key); mu.Unlock() })
	h.ChangeDetails(func(c Change) { mu.Lock(); detailed = append(detailed, c); mu.Unlock() })
	h.DeliverChange(Change{Collection: "c", Key: "a", Kind: ChangeExpired})
	h.Deliver("c", "b")
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"c/a", "c/b"}; !equal(plain, want) {
		t.Errorf("plain subscriber heard %v, want %v", plain, want)
	}
	want := []Change{{"c", "a", ChangeExpired}, {"c", "b", ChangeWritten}}
	if len(detailed) != 2 || detailed[0] != want[0] || detailed[1] != want[1] {
		t.Errorf("detailed subscriber heard %v, want %v", detailed, want)
	}
	var _ DetailedChangeFeed = h
}
