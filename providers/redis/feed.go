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
//
// In a cluster the feed uses classic PUBLISH/SUBSCRIBE, not sharded pub/sub
// (SPUBLISH/SSUBSCRIBE). A write's announcement goes in the write's own
// atomic step on the master of the write's bucket, so that no write goes
// unannounced; SPUBLISH there would have to name a channel in the bucket's
// slot, and a subscriber would then need a subscription on every shard
// (go-redis's SSubscribe listens on one shard and moves to a random node
// after a reconnect). Classic PUBLISH is forwarded over the cluster bus to
// every node, so one subscription on any node hears every write; the cost
// is that each message (an id, a collection and a key, not the value)
// crosses the bus to every node.
//
// A message in flight on the bus is lost if its master dies before
// forwarding it, while the write itself may survive on the replica that
// takes over, and a subscriber on another node sees no disconnect. So in a
// cluster the feed also watches the cluster's epoch, which every failover
// raises, and treats a change as a gap (subscribers drop everything).
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

// message is the announcement of a change to key of coll.
func (f *feed) message(coll, key string) string { return f.id + " " + coll + "\x00" + key }

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
	var epoch int64 // read before subscribing: the subscription's gap covers what came before
	checked := time.Now()
	if f.c.mode == cluster {
		epoch, _ = f.c.clusterEpoch(ctx)
	}
	ps := f.c.client.Subscribe(ctx, f.channel)
	defer ps.Close()
	defer func() {
		if ctx.Err() == nil {
			f.c.reload() // the subscription's node may be gone: find the slot's new master
		}
	}()
	pinged := false
	for {
		if f.c.mode == cluster && time.Since(checked) >= epochInterval {
			checked = time.Now()
			if e, err := f.c.clusterEpoch(ctx); err == nil {
				if epoch != 0 && e != epoch && wasLive {
					f.emit("", "") // a failover: announcements may have been lost
				}
				epoch = e
			}
		}
		msg, err := ps.ReceiveTimeout(ctx, epochInterval)
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

// epochInterval is how often a cluster's epoch is read, and how long a
// subscription may stay quiet before it is pinged.
const epochInterval = time.Second

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
