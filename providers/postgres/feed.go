package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// maxPayload keeps a notification under PostgreSQL's 8000-byte payload
// limit; a change whose names do not fit is announced as "drop everything".
const maxPayload = 7900

// listenIdle is how long the listener waits for a notification before it
// checks, with a trivial query, that its connection still answers.
const listenIdle = time.Second

// feed announces this instance's writes on the table's NOTIFY channel and
// delivers other instances' writes to subscribers, so that their local
// caches drop the entries. A payload is "<instance id> <len(collection)>
// <collection><key>" (names only: values never travel), or "<instance id> *"
// for a change too long to name.
type feed struct {
	connConfig  *pgx.ConnConfig
	channel     string
	id          string
	fallbackTTL time.Duration

	live    atomic.Bool
	lastErr atomic.Value // string: why the listener last lost its connection
	mu      sync.Mutex
	fns     []func(collection, key string)
	cancel  context.CancelFunc
	done    chan struct{}
}

func newFeed(cc *pgx.ConnConfig, channel string, fallbackTTL time.Duration) *feed {
	var b [8]byte
	_, _ = rand.Read(b[:])
	// The listener holds a connection of its own, outside the pool, so
	// that the pool's lifetime and idle limits never close it, and names
	// itself so that DBAs can tell it apart in pg_stat_activity.
	lc := cc.Copy()
	name := lc.RuntimeParams["application_name"]
	lc.RuntimeParams["application_name"] = name + " listener"
	return &feed{connConfig: lc, channel: channel, id: hex.EncodeToString(b[:]), fallbackTTL: fallbackTTL}
}

// announce returns the channel and payload that announce a change.
func (f *feed) announce(coll, key string) (string, string) {
	p := f.id + " " + strconv.Itoa(len(coll)) + " " + coll + key
	if len(p) > maxPayload {
		p = f.id + " *"
	}
	return f.channel, p
}

// parse reads a payload; own reports this instance's own changes, and an
// empty collection means "drop everything".
func (f *feed) parse(payload string) (coll, key string, own, ok bool) {
	id, rest, ok := strings.Cut(payload, " ")
	if !ok {
		return "", "", false, false
	}
	own = id == f.id
	if rest == "*" {
		return "", "", own, true
	}
	n, names, ok := strings.Cut(rest, " ")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l < 0 || l > len(names) {
		return "", "", own, false
	}
	return names[:l], names[l:], own, true
}

// subscribe registers fn; the first subscriber starts the listener.
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

// run listens until closed. Whenever the listener is not live, subscribers
// keep entries only for the fallback TTL; each time it goes down and each
// time it is back, they are told that changes may have been missed (an
// empty collection), so they drop everything they hold.
func (f *feed) run(ctx context.Context) {
	defer close(f.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		wasLive, err := f.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			f.lastErr.Store(oneLine(err.Error()))
		}
		if wasLive {
			backoff = 50 * time.Millisecond
			f.live.Store(false)
			f.emit("", "") // entries cached while live may go stale unannounced now
		}
		backoff = min(2*backoff, 800*time.Millisecond)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	f.live.Store(false)
}

// session connects, listens and delivers notifications until the
// connection fails; it reports whether it was ever live. A connection that
// stays quiet for listenIdle is asked a trivial query; if that is not
// answered either, the connection is taken for dead.
func (f *feed) session(ctx context.Context) (wasLive bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, f.connConfig)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{f.channel}.Sanitize()); err != nil {
		return false, err
	}
	// Changes committed while nobody listened are lost: subscribers drop
	// everything.
	f.live.Store(true)
	f.emit("", "")
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, nil
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, listenIdle)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
		case err != nil:
			return true, err
		default:
			if coll, key, own, ok := f.parse(n.Payload); ok && !own {
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

func (f *feed) lastError() string {
	s, _ := f.lastErr.Load().(string)
	return s
}
