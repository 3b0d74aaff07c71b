package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// feed announces this instance's writes on "<prefix>:changes" and delivers
// other instances' writes to subscribers, so that their local caches drop
// the entries. A message is "<instance id> <collection>\x00<key>".
type feed struct {
	c           *conn
	channel     string
	id          string
	fallbackTTL time.Duration

	live   atomic.Bool
	mu     sync.Mutex
	fns    []func(collection, key string)
	cancel context.CancelFunc
	done   chan struct{}
}

func newFeed(c *conn, fallbackTTL time.Duration) *feed {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if fallbackTTL <= 0 {
		fallbackTTL = time.Second
	}
	return &feed{c: c, channel: c.prefix + ":changes", id: hex.EncodeToString(b[:]), fallbackTTL: fallbackTTL}
}

func (f *feed) publish(ctx context.Context, p goredis.Pipeliner, coll, key string) {
	p.Publish(ctx, f.channel, f.id+" "+coll+"\x00"+key)
}

// subscribe registers fn; the first subscriber starts the subscription.
func (f *feed) subscribe(fn func(collection, key string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fns = append(f.fns, fn)
	if f.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel, f.done = cancel, make(chan struct{})
		go f.run(ctx)
	}
}

func (f *feed) emit(coll, key string) {
	f.mu.Lock()
	fns := f.fns
	f.mu.Unlock()
	for _, fn := range fns {
		fn(coll, key)
	}
}

// run receives changes until closed. While the subscription is down, live
// is false (local caches shorten their TTL); each time it is established
// again, subscribers are told that changes may have been missed (an empty
// collection name) so they drop everything.
func (f *feed) run(ctx context.Context) {
	defer close(f.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if f.session(ctx) {
			backoff = 50 * time.Millisecond
		}
		f.live.Store(false)
		backoff = min(2*backoff, 800*time.Millisecond)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}

// session subscribes on a connection of its own and delivers changes until
// the subscription fails, and reports whether it was ever live. A failure
// of any kind ends the session: the next one starts from a fresh
// connection, so that a refused SUBSCRIBE (NOPERM, LOADING while Redis
// restarts) is retried rather than leaving a connection that is not
// subscribed. A connection that goes quiet is pinged; if the ping is not
// answered either, the connection is taken for dead.
func (f *feed) session(ctx context.Context) (wasLive bool) {
	ps := f.c.client.Subscribe(ctx, f.channel)
	defer ps.Close()
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			var ne interface{ Timeout() bool }
			if ctx.Err() == nil && !pinged && errors.As(err, &ne) && ne.Timeout() && ps.Ping(ctx) == nil {
				pinged = true
				continue
			}
			return wasLive
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				// Changes made while we were not subscribed are lost:
				// subscribers drop everything.
				f.live.Store(true)
				wasLive = true
				f.emit("", "")
			}
		case *goredis.Message:
			id, change, ok := strings.Cut(m.Payload, " ")
			coll, key, ok2 := strings.Cut(change, "\x00")
			if ok && ok2 && id != f.id {
				f.emit(coll, key)
			}
		}
	}
}

func (f *feed) close() {
	f.mu.Lock()
	cancel, done := f.cancel, f.done
	f.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// subscribed reports whether anyone listens to the feed.
func (f *feed) subscribed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fns) > 0
}
