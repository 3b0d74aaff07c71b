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

// run receives changes until closed. The subscription reconnects by itself;
// while it is down, live is false (local caches shorten their TTL), and each
// time it is (re)established, subscribers are told that changes may have
// been missed (an empty collection name) so they drop everything.
func (f *feed) run(ctx context.Context) {
	defer close(f.done)
	ps := f.c.client.Subscribe(ctx, f.channel)
	defer ps.Close()
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && ps.Ping(ctx) == nil {
				continue // quiet, but the connection answers
			}
			f.live.Store(false)
			select { // go-redis reconnects and resubscribes on the next receive
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				// Changes made while we were not subscribed are lost:
				// subscribers drop everything.
				f.live.Store(true)
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
