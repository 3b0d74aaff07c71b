package auth

import (
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/providers"
)

// ThrottleOptions are the failed-authentication throttle's options.
var ThrottleOptions = []providers.Option{
	{Key: "auth.max_failures", Type: providers.Int, Default: "10", Min: "0", Max: "1000000",
		Description: "Failed authentications (401) in a row one client (an IPv4 address, an IPv6 /64) may make; then its requests that need a token get 429 with Retry-After, for a second that doubles with each further failure up to auth.max_lockout. A success resets it. 0 turns the throttle off (behind a proxy every client has the proxy's address)."},
	{Key: "auth.max_lockout", Type: providers.Duration, Default: "5m", Min: "1s", Description: "Longest a client is refused after failed authentications (auth.max_failures)."},
}

func init() { providers.DeclareOptions("core", ThrottleOptions...) }

// maxTracked bounds the clients a Throttle remembers, so that its memory
// stays bounded whatever the number of addresses an attacker has; beyond
// it, clients whose lockout is over are forgotten, and new ones go
// untracked until there is room.
const maxTracked = 16384

// Throttle slows down token guessing. After maxFailures failed
// authentications in a row from one client, that client's requests that
// need a token are refused (429, Retry-After) before their token is
// looked at, for a second, then two, four... up to maxLockout with each
// failure after that. A success forgets the client. A nil *Throttle
// throttles nothing.
type Throttle struct {
	maxFailures int
	maxLockout  time.Duration
	now         func() time.Time

	tracked atomic.Int64 // len(clients), read without the lock on every request
	mu      sync.RWMutex
	clients map[netip.Addr]*failures
	swept   time.Time

	refused, failed atomic.Uint64
}

type failures struct {
	n     int
	until time.Time // refused until then
	last  time.Time
}

// NewThrottle returns a throttle, or nil when maxFailures is below 1.
func NewThrottle(maxFailures int, maxLockout time.Duration) *Throttle {
	if maxFailures < 1 {
		return nil
	}
	return &Throttle{maxFailures: maxFailures, maxLockout: max(maxLockout, time.Second), now: time.Now, clients: map[netip.Addr]*failures{}}
}

// Wait is how long r's client is still refused; 0 when it is not. A
// refusal is counted.
func (t *Throttle) Wait(r *http.Request) time.Duration {
	if t == nil || t.tracked.Load() == 0 {
		return 0
	}
	key := limits.ClientKeyOf(r.RemoteAddr)
	t.mu.RLock()
	var wait time.Duration
	if f := t.clients[key]; f != nil {
		wait = f.until.Sub(t.now())
	}
	t.mu.RUnlock()
	if wait <= 0 {
		return 0
	}
	t.refused.Add(1)
	return wait
}

// Failed notes a failed authentication from r's client.
func (t *Throttle) Failed(r *http.Request) {
	if t == nil {
		return
	}
	t.failed.Add(1)
	key := limits.ClientKeyOf(r.RemoteAddr)
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.swept) > t.maxLockout {
		t.forget(now)
	}
	f := t.clients[key]
	if f == nil {
		if len(t.clients) >= maxTracked && !t.forget(now) {
			return
		}
		f = &failures{}
		t.clients[key] = f
		t.tracked.Store(int64(len(t.clients)))
	}
	f.n++
	f.last = now
	if over := f.n - t.maxFailures; over >= 0 {
		lockout := t.maxLockout
		if over < 32 {
			lockout = min(time.Second<<over, t.maxLockout)
		}
		f.until = now.Add(lockout)
	}
}

// Succeeded forgets r's client's failures.
func (t *Throttle) Succeeded(r *http.Request) {
	if t == nil || t.tracked.Load() == 0 {
		return
	}
	key := limits.ClientKeyOf(r.RemoteAddr)
	t.mu.RLock()
	_, ok := t.clients[key]
	t.mu.RUnlock()
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, key)
	t.tracked.Store(int64(len(t.clients)))
}

// forget drops the clients that are not refused and failed last longer
// than maxLockout ago (it runs at most once per maxLockout, and when the
// table is full); it reports whether there is room now. t.mu is held.
func (t *Throttle) forget(now time.Time) bool {
	t.swept = now
	for k, f := range t.clients {
		if now.After(f.until) && now.Sub(f.last) > t.maxLockout {
			delete(t.clients, k)
		}
	}
	t.tracked.Store(int64(len(t.clients)))
	return len(t.clients) < maxTracked
}

// Stats are the requests refused (429) and the failed authentications
// (401) since the start.
func (t *Throttle) Stats() (refused, failed uint64) {
	if t == nil {
		return 0, 0
	}
	return t.refused.Load(), t.failed.Load()
}
