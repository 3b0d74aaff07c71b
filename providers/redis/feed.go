package redis

import (
	"context"
	"errors"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
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
	*providers.ChangeHub
	c *conn
}

func newFeed(c *conn, fallbackTTL time.Duration) *feed {
	f := &feed{c: c}
	f.ChangeHub = providers.NewChangeHub(c.prefix+":changes", fallbackTTL, f.session)
	return f
}

// message is the announcement of a change to key of coll.
func (f *feed) message(coll, key string) string { return f.ID + " " + coll + "\x00" + key }

// expiredMark follows the instance id in the announcement of an entry a
// sweep removed because it expired ("<id>/x <collection>\x00<key>"). A
// navius from before it reads the id as another instance's and drops the
// entry, as it should.
const expiredMark = "/x"

// expiryPrefix starts the announcements of expired entries of coll; the
// sweep script appends each key.
func (f *feed) expiryPrefix(coll string) string { return f.ID + expiredMark + " " + coll + "\x00" }

// session subscribes on a connection of its own and delivers changes until
// the subscription fails. A failure of any kind ends the session: the hub
// starts the next one, from a fresh connection, so that a refused SUBSCRIBE
// (NOPERM, LOADING while Redis restarts) is retried rather than leaving a
// connection that is not subscribed. A connection that goes quiet is pinged; if the ping is not
// answered either, the connection is taken for dead.
func (f *feed) session(ctx context.Context) error {
	var epoch int64 // read before subscribing: the subscription's gap covers what came before
	checked := time.Now()
	if f.c.mode == cluster {
		epoch, _ = f.c.clusterEpoch(ctx)
	}
	ps := f.c.client.Subscribe(ctx, f.Channel)
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
				if epoch != 0 && e != epoch && f.Live() {
					f.Deliver("", "") // a failover: announcements may have been lost
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
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind == "subscribe" {
				f.Listening()
			}
		case *goredis.Message:
			id, change, ok := strings.Cut(m.Payload, " ")
			coll, key, ok2 := strings.Cut(change, "\x00")
			id, expired := strings.CutSuffix(id, expiredMark)
			if ok && ok2 && id != f.ID {
				c := providers.Change{Collection: coll, Key: key}
				if expired {
					c.Kind = providers.ChangeExpired
				}
				f.DeliverChange(c)
			}
		}
	}
}

// epochInterval is how often a cluster's epoch is read, and how long a
// subscription may stay quiet before it is pinged.
const epochInterval = time.Second
