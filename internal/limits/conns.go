// Package limits keeps a listener serving under abuse and overload. A
// Listener bounds the connections it holds, in all and per client IP,
// closing idle keep-alive connections first when a bound is reached, and
// keeps a small share above the bound for health probes; Inflight bounds
// the requests being served at once, so that the rest are refused at once
// rather than queued. Accept errors (a full file table) are logged once per
// burst.
package limits

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// Config bounds one listener's connections.
type Config struct {
	// Name names the listener in metrics and log lines ("api", "admin").
	Name string
	// Max is the most connections held at once, besides the reserve.
	Max int
	// PerIP is the most connections one client holds at once, reserve
	// included; a client is an IPv4 address or an IPv6 /64.
	PerIP int
	// Reserve is the share kept above Max for probes: a connection
	// accepted into it serves health probes and metrics scrapes only, one
	// request, then closes (see Reserved). One client holds at most a
	// quarter of it, and each of its connections has reserveReadTime to
	// send its request.
	Reserve int
	// Log receives the accept errors, once per burst.
	Log logrus.FieldLogger
}

// Stats are a listener's counts.
type Stats struct {
	// Open is the connections held now, reserve included; Idle those of
	// them that wait between requests.
	Open, Idle int
	// RefusedTotal and RefusedPerIP count the connections closed on
	// arrival: all of Max and the reserve were taken, or the client held
	// PerIP connections, none of them idle.
	RefusedTotal, RefusedPerIP uint64
	// ClosedIdle counts idle keep-alive connections closed to make room
	// for a new one.
	ClosedIdle uint64
	// AcceptErrors counts failed accepts (e.g. too many open files).
	AcceptErrors uint64
}

// Listener is a net.Listener with connection limits. Give its ConnState and
// ConnContext to the http.Server that serves it: ConnState tells it which
// connections are idle, ConnContext marks the reserve's connections.
type Listener struct {
	net.Listener
	cfg Config

	mu       sync.Mutex
	open     int // connections held outside the reserve
	reserved int // connections held in the reserve
	clients  map[netip.Addr]*client
	idle     ring // idle connections, the longest idle first
	idleN    int

	refusedTotal, refusedPerIP, closedIdle atomic.Uint64
	burst                                  *Burst
}

// client is one client's connections.
type client struct {
	n, reserved int
	idle        ring
}

// reserveReadTime is how long a connection of the reserve has to send its
// request: a probe's is a few hundred bytes.
const reserveReadTime = 2 * time.Second

// NewListener wraps ln with the bounds of cfg. Max and PerIP below 1 are 1.
func NewListener(ln net.Listener, cfg Config) *Listener {
	cfg.Max, cfg.PerIP, cfg.Reserve = max(cfg.Max, 1), max(cfg.PerIP, 1), max(cfg.Reserve, 0)
	l := &Listener{Listener: ln, cfg: cfg, clients: map[netip.Addr]*client{}}
	l.idle.init()
	l.burst = NewBurst(cfg.Log, "listener "+cfg.Name+": accepting connections fails", "listener "+cfg.Name+": accepting connections works again")
	return l
}

// Config is the listener's bounds.
func (l *Listener) Config() Config { return l.cfg }

// Stats returns the listener's counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	open, idle := l.open+l.reserved, l.idleN
	l.mu.Unlock()
	return Stats{Open: open, Idle: idle, RefusedTotal: l.refusedTotal.Load(), RefusedPerIP: l.refusedPerIP.Load(),
		ClosedIdle: l.closedIdle.Load(), AcceptErrors: l.burst.Count()}
}

// Accept returns the next connection the bounds admit. Connections they
// refuse are closed at once and counted. A temporary accept error (too many
// open files, say) is retried after a pause that grows to a second, and
// closes an idle connection first to free a descriptor; the error is
// logged once per burst, not once per try as http.Server would.
func (l *Listener) Accept() (net.Conn, error) {
	pause := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !temporary(err) {
				return nil, err
			}
			l.burst.Fail(err)
			if v := l.evictOldestIdle(); v != nil {
				_ = v.Conn.Close()
			}
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		l.burst.OK()
		pause = 5 * time.Millisecond
		if wc := l.admit(c); wc != nil {
			return wc, nil
		}
		_ = c.Close()
	}
}

// temporary reports whether an accept error passes: a full file table, a
// connection reset before it was accepted.
func temporary(err error) bool {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno == syscall.EMFILE || errno == syscall.ENFILE || errno == syscall.ENOBUFS ||
			errno == syscall.ENOMEM || errno == syscall.ECONNABORTED || errno == syscall.ECONNRESET || errno == syscall.EINTR
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// admit takes c in when the bounds allow, closing idle connections (of
// its client first) to make room; nil means refused.
func (l *Listener) admit(c net.Conn) *Conn {
	key := ClientKey(c.RemoteAddr())
	var victims []*Conn
	defer func() {
		for _, v := range victims { // outside the lock: a close may take a moment
			_ = v.Conn.Close()
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.clients[key]
	if cl != nil && cl.n >= l.cfg.PerIP {
		v := cl.idle.oldest()
		if v == nil {
			l.refusedPerIP.Add(1)
			return nil
		}
		l.release(v, true)
		victims = append(victims, v)
	}
	reserve := false
	if l.open >= l.cfg.Max {
		switch v := l.idle.oldest(); {
		case v != nil:
			l.release(v, true)
			victims = append(victims, v)
			reserve = v.reserve // the place it frees
		case l.reserved < l.cfg.Reserve && (cl == nil || cl.reserved < max(1, l.cfg.Reserve/4)):
			reserve = true
		default:
			l.refusedTotal.Add(1)
			return nil
		}
	}
	if cl = l.clients[key]; cl == nil { // a victim may have been its last
		cl = &client{}
		cl.idle.init()
		l.clients[key] = cl
	}
	cl.n++
	wc := &Conn{Conn: c, l: l, client: key, reserve: reserve}
	if reserve {
		l.reserved++
		cl.reserved++
		wc.readBy = time.Now().Add(reserveReadTime)
		_ = c.SetReadDeadline(wc.readBy)
	} else {
		l.open++
	}
	return wc
}

// evictOldestIdle releases the longest idle connection and returns it for
// the caller to close, or nil.
func (l *Listener) evictOldestIdle() *Conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.idle.oldest()
	if v != nil {
		l.release(v, true)
	}
	return v
}

// release gives c's place back; l.mu is held. It does nothing the second
// time.
func (l *Listener) release(c *Conn, evicted bool) {
	if c.released {
		return
	}
	c.released = true
	l.notIdle(c)
	if c.reserve {
		l.reserved--
	} else {
		l.open--
	}
	if cl := l.clients[c.client]; cl != nil {
		if c.reserve {
			cl.reserved--
		}
		if cl.n--; cl.n == 0 {
			delete(l.clients, c.client)
		}
	}
	if evicted {
		l.closedIdle.Add(1)
	}
}

// ConnState is the http.Server hook that tells the listener which of its
// connections wait idle between requests (only those are closed to make
// room).
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c := connOf(nc)
	if c == nil || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	switch state {
	case http.StateIdle:
		if !c.idleAll.linked() {
			c.idleAll.owner, c.idleOwn.owner = c, c
			l.idle.push(&c.idleAll)
			if cl := l.clients[c.client]; cl != nil {
				cl.idle.push(&c.idleOwn)
			}
			l.idleN++
		}
	case http.StateActive, http.StateHijacked, http.StateClosed:
		l.notIdle(c)
	}
}

// notIdle takes c off the idle lists; l.mu is held.
func (l *Listener) notIdle(c *Conn) {
	if c.idleAll.linked() {
		c.idleAll.unlink()
		c.idleOwn.unlink()
		l.idleN--
	}
}

type reserveKey struct{}

// ConnContext is the http.Server hook that marks the requests of a
// reserve connection (see Reserved).
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := connOf(nc); c != nil && c.reserve {
		return MarkReserved(ctx)
	}
	return ctx
}

// MarkReserved marks ctx as a reserve connection's (ConnContext does it;
// tests too).
func MarkReserved(ctx context.Context) context.Context {
	return context.WithValue(ctx, reserveKey{}, true)
}

// Reserved reports whether a request came on a connection of the reserve:
// the server answers it only when it is a probe, and closes the connection
// after it.
func Reserved(ctx context.Context) bool {
	v, _ := ctx.Value(reserveKey{}).(bool)
	return v
}

// Conn is a connection a Listener admitted; closing it gives its place
// back.
type Conn struct {
	net.Conn
	l       *Listener
	client  netip.Addr
	reserve bool
	readBy  time.Time // a reserve connection's read deadline, which the server's cannot extend

	// Guarded by l.mu.
	released         bool
	idleAll, idleOwn link
}

// Close closes the connection and gives its place back.
func (c *Conn) Close() error {
	c.l.mu.Lock()
	c.l.release(c, false)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// SetReadDeadline sets the read deadline, no later than readBy on a
// connection of the reserve (http.Server sets its own per request).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.reserve && (t.IsZero() || t.After(c.readBy)) {
		t = c.readBy
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines, the read one as SetReadDeadline does.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// CloseWrite shuts down the writing side, when the connection has one (a
// TCP connection): http.Server does so before closing a connection whose
// request body it did not read.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// connOf finds the *Conn under a connection an http.Server holds (a TLS
// connection wraps it).
func connOf(nc net.Conn) *Conn {
	for range 4 {
		switch c := nc.(type) {
		case *Conn:
			return c
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// ClientKey is who a remote address counts as: its IP, or for IPv6 its
// /64, which one subscriber usually holds whole.
func ClientKey(a net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch t := a.(type) {
	case *net.TCPAddr:
		ap = t.AddrPort()
	default:
		if a != nil {
			ap, _ = netip.ParseAddrPort(a.String())
		}
	}
	return clientOf(ap.Addr())
}

// ClientKeyOf is ClientKey for an http.Request's RemoteAddr.
func ClientKeyOf(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return clientOf(ap.Addr())
}

func clientOf(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// link is an entry of a ring: an intrusive doubly linked list, so that a
// connection leaves the idle lists in constant time.
type link struct {
	prev, next *link
	owner      *Conn
}

func (k *link) linked() bool { return k.next != nil }

func (k *link) unlink() {
	if k.next == nil {
		return
	}
	k.prev.next, k.next.prev = k.next, k.prev
	k.prev, k.next = nil, nil
}

// ring is a list of links with a sentinel; the oldest entry is first.
type ring struct{ head link }

func (r *ring) init() { r.head.prev, r.head.next = &r.head, &r.head }

func (r *ring) push(k *link) {
	k.prev, k.next = r.head.prev, &r.head
	r.head.prev.next = k
	r.head.prev = k
}

func (r *ring) oldest() *Conn {
	if r.head.next == &r.head {
		return nil
	}
	return r.head.next.owner
}
