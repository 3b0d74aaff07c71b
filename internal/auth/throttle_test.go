package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
)

func from(addr string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = addr
	return r
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1e9, 0)
	th := NewThrottle(3, time.Minute)
	th.now = func() time.Time { return now }
	bad, other := from("192.0.2.1:1000"), from("192.0.2.2:1000")
	for i := range 3 {
		if w := th.Wait(bad); w != 0 {
			t.Fatalf("refused after %d failures", i)
		}
		th.Failed(bad)
	}
	if w := th.Wait(bad); w != time.Second {
		t.Fatalf("after 3 failures: wait %v, want 1s", w)
	}
	if w := th.Wait(from("192.0.2.1:2000")); w != time.Second {
		t.Fatal("another port of the same address is not refused")
	}
	if w := th.Wait(other); w != 0 {
		t.Fatalf("another client waits %v", w)
	}
	// Each failure after the lockout doubles it, up to the bound.
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		now = now.Add(th.Wait(bad))
		th.Failed(bad)
		if w := th.Wait(bad); w != want {
			t.Fatalf("wait %v, want %v", w, want)
		}
	}
	now = now.Add(time.Minute)
	th.Succeeded(bad)
	if w := th.Wait(bad); w != 0 {
		t.Fatalf("after a success: wait %v", w)
	}
	if refused, failed := th.Stats(); refused != 16 || failed != 10 {
		t.Fatalf("refused %d, failed %d; want 16 (each Wait above) and 10", refused, failed)
	}
	if NewThrottle(0, time.Minute) != nil {
		t.Fatal("auth.max_failures 0 throttles")
	}
}

// TestThrottleBounded: the clients remembered stay within maxTracked, and
// those whose lockout is long over are forgotten to make room.
func TestThrottleBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	th := NewThrottle(1, time.Second)
	th.now = func() time.Time { return now }
	for i := range maxTracked + 100 {
		th.Failed(from(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)))
	}
	if n := len(th.clients); n != maxTracked {
		t.Fatalf("%d clients remembered, want %d", n, maxTracked)
	}
	now = now.Add(time.Hour)
	th.Failed(from("192.0.2.9:1"))
	if n := len(th.clients); n != 1 {
		t.Fatalf("%d clients remembered after an hour, want only the new one", n)
	}
}

func TestFromSettingsThrottles(t *testing.T) {
	a, err := FromSettings(providers.Settings{"auth.tokens": "read:r-tok-0123456789abcdef", "auth.max_failures": "2", "auth.max_lockout": "1m"})
	if err != nil {
		t.Fatal(err)
	}
	r := from("192.0.2.1:1")
	r.Header.Set("Authorization", "Bearer wrong-0123456789abcdef")
	for range 2 {
		if a.Authenticated(r) {
			t.Fatal("a wrong token authenticated")
		}
	}
	good := from("192.0.2.1:1")
	good.Header.Set("Authorization", "Bearer r-tok-0123456789abcdef")
	if a.Authenticated(good) {
		t.Fatal("a throttled client was authenticated, which would tell it the token is good")
	}
}
