package redis

import (
	"testing"
	"time"
)

// TestClockSample: the estimate of Redis's clock from masters' answers to
// TIME lies within its bound of every master's clock, and a later answer
// of one master alone keeps the spread the masters showed.
func TestClockSample(t *testing.T) {
	base := time.Now()
	at := func(ms float64) time.Time { return base.Add(time.Duration(ms * float64(time.Millisecond))) }
	// Three masters asked at once, each answering within a 0.4 ms round
	// trip; their clocks read 1000 s, +2 ms and -1 ms (as of the midpoint).
	redis := time.Unix(1000, 0)
	var c conn
	c.noteTimes([]timing{
		{redis: redis, sent: at(0), received: at(0.4)},
		{redis: redis.Add(2 * time.Millisecond), sent: at(0.1), received: at(0.5)},
		{redis: redis.Add(-time.Millisecond), sent: at(0), received: at(0.4)},
	}, false)
	s := c.clock.Load()
	for _, clock := range []time.Duration{0, 2 * time.Millisecond, -time.Millisecond} {
		// Each master's time at the sample's instant, which lies within
		// its own answer's round trip.
		for _, off := range []time.Duration{-200 * time.Microsecond, 200 * time.Microsecond} {
			truth := redis.Add(clock + off)
			if d := s.redis.Sub(truth).Abs(); d > s.err {
				t.Fatalf("estimate %s is %s from a master's clock, beyond its bound %s", s.redis.Format(time.StampMicro), d, s.err)
			}
		}
	}
	if s.err > 3*time.Millisecond {
		t.Fatalf("bound %s: want about half the spread (1.5 ms) plus the round trip and margin", s.err)
	}
	skew := s.skew
	if skew < time.Millisecond {
		t.Fatalf("the masters' spread is recorded as %s, want about 1.5 ms less the round trip", skew)
	}
	// One master answers alone (a read asked its own master): the spread
	// of the others still bounds the estimate.
	c.noteTimes([]timing{{redis: redis.Add(time.Second), sent: at(1000), received: at(1000.2)}}, true)
	if s := c.clock.Load(); s.skew != skew || s.err < skew+clockMargin {
		t.Fatalf("after one master's answer: skew %s, bound %s; want the spread %s kept in the bound", s.skew, s.err, skew)
	}
	// The bound grows with the sample's age, and an old sample is not used.
	c.clock.Load().at = time.Now().Add(-5 * time.Second)
	if _, within, ok := c.serverNow(); !ok || within < c.clock.Load().err+2*time.Millisecond {
		t.Fatalf("a 5 s old sample: within %s, ok %v; want its bound plus 2.5 ms of drift", within, ok)
	}
	c.clock.Load().at = time.Now().Add(-clockFresh - time.Second)
	if _, _, ok := c.serverNow(); ok {
		t.Fatal("a stale sample was used")
	}
}

// TestLocalTime: expiry times are reported on navius's clock where Redis's
// differs by more than clocksAgree, and as they are otherwise.
func TestLocalTime(t *testing.T) {
	var c conn
	deadline := time.Now().Add(time.Minute).UnixMilli()
	if got := c.localTime(deadline); got.UnixMilli() != deadline {
		t.Fatalf("without a sample: %v", got)
	}
	for _, off := range []time.Duration{time.Hour, -time.Hour, 10 * time.Millisecond} {
		c.clock.Store(&clockSample{at: time.Now(), redis: time.Now().Add(off)})
		want := time.UnixMilli(deadline)
		if off > clocksAgree || off < -clocksAgree {
			want = want.Add(-off)
		}
		if got := c.localTime(deadline); got.Sub(want).Abs() > time.Millisecond {
			t.Fatalf("Redis's clock %s off: %v, want %v", off, got, want)
		}
	}
}
