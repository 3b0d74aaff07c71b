package providers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ChangeHub is the part of a ChangeFeed that every provider shares whose
// instances announce their writes to each other (Redis pub/sub, PostgreSQL
// LISTEN/NOTIFY): an instance id to recognise its own announcements, the
// subscribers, a loop that keeps the provider's listening session running
// with backoff, and the feed's liveness. A provider supplies the session
// and the announcing; ChangeHub implements ChangeFeed.
type ChangeHub struct {
	// ID names this instance in its announcements, so that it can ignore
	// its own.
	ID string
	// Channel is where the announcements travel (shown in health reports).
	Channel string

	fallbackTTL time.Duration
	session     func(ctx context.Context) error

	live    atomic.Bool
	lastErr atomic.Pointer[string]
	mu      sync.Mutex
	fns     []func(Change)
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewChangeHub returns a hub for announcements on channel. session listens
// until its connection fails: it calls Listening once changes are being
// received, Deliver for each change another instance made, and returns the
// error that ended it. The hub runs it from the first subscription until
// Close, again and again with a growing pause, so a provider's session need
// not retry by itself. fallbackTTL <= 0 means one second.
func NewChangeHub(channel string, fallbackTTL time.Duration, session func(ctx context.Context) error) *ChangeHub {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if fallbackTTL <= 0 {
		fallbackTTL = time.Second
	}
	return &ChangeHub{ID: hex.EncodeToString(b[:]), Channel: channel, fallbackTTL: fallbackTTL, session: session}
}

// Changes implements ChangeFeed; the first subscriber starts the session.
func (h *ChangeHub) Changes(fn func(collection, key string)) {
	h.ChangeDetails(func(c Change) { fn(c.Collection, c.Key) })
}

// ChangeDetails implements DetailedChangeFeed; the first subscriber starts
// the session.
func (h *ChangeHub) ChangeDetails(fn func(Change)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fn)
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done = cancel, make(chan struct{})
		go h.run(ctx)
	}
}

// Live implements ChangeFeed.
func (h *ChangeHub) Live() bool { return h.live.Load() }

// FallbackTTL implements ChangeFeed.
func (h *ChangeHub) FallbackTTL() time.Duration { return h.fallbackTTL }

// Subscribed reports whether anyone listens to the feed.
func (h *ChangeHub) Subscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.fns) > 0
}

// Listening marks the feed live. Changes made while nobody listened are
// lost, so subscribers are told to drop everything.
func (h *ChangeHub) Listening() {
	h.live.Store(true)
	h.Deliver("", "")
}

// Deliver hands a change to every subscriber; an empty collection means
// changes may have been missed.
func (h *ChangeHub) Deliver(collection, key string) {
	h.DeliverChange(Change{Collection: collection, Key: key})
}

// DeliverChange is Deliver with what the change was, for a provider whose
// announcements say it.
func (h *ChangeHub) DeliverChange(c Change) {
	h.mu.Lock()
	fns := h.fns
	h.mu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}

// LastError is why the session last ended, on one line ("" if it never
// failed).
func (h *ChangeHub) LastError() string {
	if p := h.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Close stops the session and waits for it to end.
func (h *ChangeHub) Close() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// run keeps a session going until closed. Whenever the feed is not live,
// subscribers keep entries only for the fallback TTL; each time it goes
// down, and each time it is back (Listening), they are told that changes
// may have been missed, so they drop everything they hold.
func (h *ChangeHub) run(ctx context.Context) {
	defer close(h.done)
	const first, most = 50 * time.Millisecond, 800 * time.Millisecond
	backoff := first
	for ctx.Err() == nil {
		err := h.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			msg := strings.Join(strings.Fields(err.Error()), " ")
			h.lastErr.Store(&msg)
		}
		if h.live.Swap(false) {
			backoff = first
			h.Deliver("", "") // entries cached while live may go stale unannounced now
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, most)
	}
	h.live.Store(false)
}

// HealthIndicator reports whether the feed is live, under name; scrub
// removes anything secret from the session's last error. It is not
// critical: while the feed is down, reads stay correct to within the
// fallback TTL.
func (h *ChangeHub) HealthIndicator(name string, scrub func(string) string) HealthIndicator {
	return HealthIndicator{
		Name: name, Order: 25, ComponentType: "component",
		Metadata: map[string]string{"channel": h.Channel},
		Check: func(ctx context.Context) HealthResult {
			r := HealthResult{Status: StatusUp, Details: map[string]any{
				"channel": h.Channel, "live": h.Live(), "fallback_ttl": h.fallbackTTL.String(),
			}}
			if !h.Live() {
				r.Status = StatusDown
				r.Error = "not listening on " + h.Channel + ": other instances' writes may be missed, so local cache entries live at most " + h.fallbackTTL.String()
				if e := h.LastError(); e != "" {
					r.Error += " (" + scrub(e) + ")"
				}
			}
			return r
		},
	}
}
