package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/navius-dev/navius/providers"
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
// <collection><key>" (names only: values never travel), "<instance id>
// expired <len(collection)> <collection><key>" for an entry the sweep
// removed because it expired, or "<instance id> *" for a change too long
// to name. Subscribers are told of expiries as of any other change for
// now; the word is there for those that will tell them apart (watch
// events), and navius before it ignores such payloads.
type feed struct {
	*providers.ChangeHub
	connConfig *pgx.ConnConfig
}

// expiredWord marks the announcement of an expiry.
const expiredWord = "expired"

func newFeed(cc *pgx.ConnConfig, channel string, fallbackTTL time.Duration) *feed {
	// The listener holds a connection of its own, outside the pool, so
	// that the pool's lifetime and idle limits never close it, and names
	// itself so that DBAs can tell it apart in pg_stat_activity.
	lc := cc.Copy()
	name := lc.RuntimeParams["application_name"]
	lc.RuntimeParams["application_name"] = name + " listener"
	f := &feed{connConfig: lc}
	f.ChangeHub = providers.NewChangeHub(channel, fallbackTTL, f.session)
	return f
}

// announce returns the channel and payload that announce a change.
func (f *feed) announce(coll, key string) (string, string) {
	return f.Channel, f.payload(coll, key, false)
}

func (f *feed) payload(coll, key string, expired bool) string {
	p := f.ID + " "
	if expired {
		p += expiredWord + " "
	}
	p += strconv.Itoa(len(coll)) + " " + coll + key
	if len(p) > maxPayload {
		p = f.ID + " *"
	}
	return p
}

// parse reads a payload; own reports this instance's own changes, and an
// empty collection means "drop everything".
func (f *feed) parse(payload string) (coll, key string, expired, own, ok bool) {
	id, rest, ok := strings.Cut(payload, " ")
	if !ok {
		return "", "", false, false, false
	}
	own = id == f.ID
	if rest == "*" {
		return "", "", false, own, true
	}
	rest, expired = strings.CutPrefix(rest, expiredWord+" ")
	n, names, ok := strings.Cut(rest, " ")
	l, err := strconv.Atoi(n)
	if !ok || err != nil || l < 0 || l > len(names) {
		return "", "", false, own, false
	}
	return names[:l], names[l:], expired, own, true
}

// session connects, listens and delivers notifications until the
// connection fails. A connection that
// stays quiet for listenIdle is asked a trivial query; if that is not
// answered either, the connection is taken for dead.
func (f *feed) session(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, f.connConfig)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{f.Channel}.Sanitize()); err != nil {
		return err
	}
	f.Listening()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, listenIdle)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if coll, key, expired, own, ok := f.parse(n.Payload); ok && !own {
				c := providers.Change{Collection: coll, Key: key}
				if expired {
					c.Kind = providers.ChangeExpired
				}
				f.DeliverChange(c)
			}
		}
	}
}
