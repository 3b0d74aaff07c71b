package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Expiry is decided by Redis's clock, so that every instance agrees: the
// write and sweep scripts read TIME. A read does without a second round
// trip by estimating Redis's clock from a sample, taken whenever navius asks
// Redis for TIME (every Ping does; in a cluster every master answers and the
// sample covers the spread of their clocks). An entry whose expiry time is
// further from the estimate than the estimate's error bound is decided at
// once; one closer than that (rare: the bound is about a millisecond) is
// decided by asking its master for TIME.
//
// The bound is half the round trip of the TIME command of the sample (the
// answer was made at some point of it), plus the spread of the masters'
// clocks in a cluster, plus clockMargin, plus 1/clockDrift of the time since
// the sample (clocks that NTP slews drift apart by at most 500 ppm). A
// sample older than clockFresh is not used. A Sentinel failover to a master
// whose clock differs by more than the bound misjudges entries within that
// difference of their expiry until the next sample.
type clockSample struct {
	redis time.Time     // Redis's time ...
	at    time.Time     // ... at this local instant (with its monotonic reading)
	err   time.Duration // the error bound then
	skew  time.Duration // the spread of the masters' clocks (cluster)
}

const (
	clockMargin = time.Millisecond
	clockDrift  = 2000
	clockFresh  = 10 * time.Second
	// clocksAgree: clocks closer than this are taken as one for the
	// expiry times GetEntry reports (see localTime).
	clocksAgree = 50 * time.Millisecond
)

// serverNow estimates Redis's clock: now, within the error bound; ok is
// false without a fresh sample.
func (c *conn) serverNow() (now time.Time, within time.Duration, ok bool) {
	s := c.clock.Load()
	if s == nil {
		return time.Time{}, 0, false
	}
	since := time.Since(s.at)
	if since > clockFresh {
		return time.Time{}, 0, false
	}
	return s.redis.Add(since), s.err + since/clockDrift, true
}

// timing is one node's answer to TIME and when it was asked.
type timing struct {
	redis, sent, received time.Time
}

// askTime sends TIME to node.
func askTime(ctx context.Context, node *goredis.Client) (timing, error) {
	sent := time.Now()
	t, err := node.Time(ctx).Result()
	return timing{redis: t, sent: sent, received: time.Now()}, err
}

// noteTimes makes a sample of the masters' answers to TIME: Redis's time
// at the first answer's midpoint, with a bound that covers every answer
// (each was made somewhere within its round trip). oneOfMany: one master of
// a cluster answered (a read asked its own master), and the spread of the
// masters' clocks comes from the last sample of them all.
func (c *conn) noteTimes(ts []timing, oneOfMany bool) {
	if len(ts) == 0 {
		return
	}
	mid := func(t timing) time.Time { return t.sent.Add(t.received.Sub(t.sent) / 2) }
	at := mid(ts[0])
	var lo, hi time.Time // the interval Redis's time at at lies in, by each answer
	var rtt time.Duration
	for i, t := range ts {
		half := t.received.Sub(t.sent) / 2
		rtt = max(rtt, half)
		center := t.redis.Add(at.Sub(mid(t)))
		if l, h := center.Add(-half), center.Add(half); i == 0 {
			lo, hi = l, h
		} else {
			lo, hi = minTime(lo, l), maxTime(hi, h)
		}
	}
	s := &clockSample{at: at, redis: lo.Add(hi.Sub(lo) / 2), err: hi.Sub(lo)/2 + clockMargin}
	if s.skew = max(hi.Sub(lo)/2-rtt, 0); oneOfMany {
		// One master of several answered: its clock may be off the others'
		// by as much as the last sample of them all found.
		if prev := c.clock.Load(); prev != nil {
			s.skew = prev.skew
		}
		s.err += s.skew
	}
	c.clock.Store(s)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// expired reports whether an entry of hash whose expiry time is deadline
// (ms of Redis's clock) has expired, as the scripts decide it: deadline at
// or before Redis's time in ms.
func (d *Database) expired(ctx context.Context, hash string, deadline int64) (bool, error) {
	if now, within, ok := d.serverNow(); ok {
		switch {
		case deadline <= now.Add(-within).UnixMilli():
			return true, nil
		case deadline > now.Add(within).UnixMilli():
			return false, nil
		}
	}
	m, err := d.masterFor(ctx, hash)
	if err != nil {
		return false, mapErr("database", err)
	}
	t, err := askTime(ctx, m)
	if err != nil {
		return false, mapErr("database", err)
	}
	d.noteTimes([]timing{t}, d.mode == cluster)
	return deadline <= t.redis.UnixMilli(), nil
}

// localTime is an expiry time of Redis's clock (ms) on navius's clock, for
// the local cache in front, which compares it with time.Now(): the same
// instant, less the clocks' difference where the last sample found them
// more than clocksAgree apart.
func (c *conn) localTime(ms int64) time.Time {
	t := time.UnixMilli(ms)
	if s := c.clock.Load(); s != nil {
		if off := s.redis.Sub(s.at.Round(0)); off.Abs() > clocksAgree {
			return t.Add(-off)
		}
	}
	return t
}
