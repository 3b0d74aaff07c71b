package limits

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/harness"
)

// server serves ln (wrapped with cfg) with a handler that blocks on
// /block until release is closed, answers whether the connection is in the
// reserve on /reserved, and "ok" elsewhere.
type server struct {
	l       *Listener
	addr    string
	release chan struct{}
	entered chan struct{}
}

func startServer(t *testing.T, cfg Config) *server {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{l: NewListener(raw, cfg), addr: raw.Addr().String(), release: make(chan struct{}), entered: make(chan struct{}, 100)}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/block":
				s.entered <- struct{}{}
				<-s.release
			case "/reserved":
				fmt.Fprint(w, Reserved(r.Context()))
				return
			}
			fmt.Fprint(w, "ok")
		}),
		ConnState:   s.l.ConnState,
		ConnContext: s.l.ConnContext,
		IdleTimeout: time.Minute,
	}
	go func() { _ = hs.Serve(s.l) }()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		_ = hs.Close()
	})
	return s
}

// dial connects from the loopback address from (127.0.0.x).
func (s *server) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends GET path on c and returns the body, or an error when the
// connection was closed instead.
func get(c net.Conn, path string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	harness.WaitFor(t, what, 5*time.Second, cond)
}

func TestIdleConnectionsMakeRoom(t *testing.T) {
	s := startServer(t, Config{Name: "api", Max: 4, PerIP: 4})
	var idle []net.Conn
	for i := range 4 {
		c := s.dial(t, "127.0.0.1")
		if body, err := get(c, "/"); err != nil || body != "ok" {
			t.Fatalf("GET: %q %v", body, err)
		}
		idle = append(idle, c)
		waitFor(t, "the connection idle", func() bool { return s.l.Stats().Idle == i+1 }) // in this order
	}
	// The fifth is admitted by closing the longest idle one.
	c := s.dial(t, "127.0.0.1")
	if body, err := get(c, "/reserved"); err != nil || body != "false" {
		t.Fatalf("fifth connection: %q %v", body, err)
	}
	if st := s.l.Stats(); st.ClosedIdle != 1 || st.Open != 4 || st.RefusedTotal != 0 {
		t.Fatalf("stats %+v, want 1 idle closed, 4 open", st)
	}
	if _, err := get(idle[0], "/"); err == nil {
		t.Fatal("the longest idle connection still answers; it should have been closed")
	}
	if body, err := get(idle[3], "/"); err != nil || body != "ok" {
		t.Fatalf("a newer idle connection: %q %v", body, err)
	}
}

func TestBusyConnectionsGoToTheReserveThenAreRefused(t *testing.T) {
	s := startServer(t, Config{Name: "api", Max: 2, PerIP: 10, Reserve: 1})
	for range 2 {
		c := s.dial(t, "127.0.0.1")
		go get(c, "/block")
		<-s.entered
	}
	c := s.dial(t, "127.0.0.1")
	if body, err := get(c, "/reserved"); err != nil || body != "true" {
		t.Fatalf("third connection: %q %v, want it in the reserve", body, err)
	}
	// Idle, it gives its place in the reserve to the next.
	waitFor(t, "the reserve's connection idle", func() bool { return s.l.Stats().Idle == 1 })
	d := s.dial(t, "127.0.0.1")
	if body, err := get(d, "/reserved"); err != nil || body != "true" {
		t.Fatalf("fourth connection: %q %v, want it in the reserve", body, err)
	}
	if st := s.l.Stats(); st.ClosedIdle != 1 || st.Open != 3 {
		t.Fatalf("stats %+v, want 1 idle closed and 3 open", st)
	}
	go get(d, "/block")
	<-s.entered
	// Busy, the bound and the reserve are taken: the next is refused.
	if _, err := get(s.dial(t, "127.0.0.1"), "/"); err == nil {
		t.Fatal("a connection beyond the bound and the reserve was served")
	}
	waitFor(t, "the refusal counted", func() bool { return s.l.Stats().RefusedTotal == 1 })
	close(s.release)
	waitFor(t, "the blocked requests done", func() bool { return s.l.Stats().Idle == 3 })
	if body, err := get(s.dial(t, "127.0.0.1"), "/"); err != nil || body != "ok" {
		t.Fatalf("after the requests ended, a new connection: %q %v", body, err)
	}
}

// TestReservePerClient: one client holds at most a quarter of the
// reserve, so that another's probe finds room.
func TestReservePerClient(t *testing.T) {
	s := startServer(t, Config{Name: "api", Max: 1, PerIP: 100, Reserve: 4})
	c := s.dial(t, "127.0.0.2")
	go get(c, "/block")
	<-s.entered
	r := s.dial(t, "127.0.0.2")
	if body, err := get(r, "/reserved"); err != nil || body != "true" {
		t.Fatalf("the client's first connection beyond the bound: %q %v, want it in the reserve", body, err)
	}
	go get(r, "/block") // busy, it keeps its place
	<-s.entered
	if _, err := get(s.dial(t, "127.0.0.2"), "/"); err == nil {
		t.Fatal("the client got a second place in the reserve")
	}
	if body, err := get(s.dial(t, "127.0.0.3"), "/reserved"); err != nil || body != "true" {
		t.Fatalf("another client: %q %v, want it in the reserve", body, err)
	}
}

func TestPerClientBound(t *testing.T) {
	s := startServer(t, Config{Name: "api", Max: 100, PerIP: 2})
	for range 2 {
		c := s.dial(t, "127.0.0.2")
		go get(c, "/block")
		<-s.entered
	}
	if _, err := get(s.dial(t, "127.0.0.2"), "/"); err == nil {
		t.Fatal("a third busy connection from one client was served")
	}
	waitFor(t, "the refusal counted", func() bool { return s.l.Stats().RefusedPerIP == 1 })
	if body, err := get(s.dial(t, "127.0.0.1"), "/"); err != nil || body != "ok" {
		t.Fatalf("another client: %q %v", body, err)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"192.0.2.7:443", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::"},
		{"garbage", "invalid IP"},
	} {
		if got := ClientKeyOf(tc.addr).String(); got != tc.want {
			t.Errorf("ClientKeyOf(%q) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestInflight(t *testing.T) {
	f := NewInflight(2)
	if !f.Acquire() || !f.Acquire() {
		t.Fatal("the first two were refused")
	}
	if f.Acquire() {
		t.Fatal("a third was admitted beyond the bound")
	}
	f.Release()
	if !f.Acquire() {
		t.Fatal("a place given back was not taken")
	}
	if f.Shed() != 1 {
		t.Fatalf("shed %d, want 1", f.Shed())
	}
	var none *Inflight = NewInflight(0)
	if none != nil || !none.Acquire() {
		t.Fatal("no bound refused a request")
	}
}

// failingListener fails its first n accepts with EMFILE.
type failingListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (f *failingListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func TestAcceptErrorsLoggedOncePerBurst(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var out bytes.Buffer
	log := logrus.New()
	log.SetOutput(&out)
	l := NewListener(&failingListener{Listener: raw, n: 5}, Config{Name: "api", Max: 10, PerIP: 10, Log: log})
	go func() {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err == nil {
			defer c.Close()
			time.Sleep(2 * time.Second)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	c.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "too many open files") || !strings.Contains(lines[1], "failures=5") {
		t.Fatalf("want one line when the burst began (with the error) and one when it ended (with the count), got:\n%s", out.String())
	}
	if st := l.Stats(); st.AcceptErrors != 5 {
		t.Fatalf("accept errors %d, want 5", st.AcceptErrors)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct{ files, want int }{
		{0, 847}, {1024, 847}, {20000, 10000}, {256, 144}, {64, 16},
	} {
		if got := DefaultMaxConnections(tc.files); got != tc.want {
			t.Errorf("DefaultMaxConnections(%d) = %d, want %d", tc.files, got, tc.want)
		}
	}
	// What is kept for the process, the admin listener and the reserve
	// fits in the file limit.
	for _, files := range []int{256, 1024, 4096, 65536} {
		n := DefaultMaxConnections(files)
		if used := n + ProbeReserve(n) + AdminConnections + max(minKept, files/8); used > files {
			t.Errorf("files %d: %d connections, %d reserve, %d admin and %d kept exceed it", files, n, ProbeReserve(n), AdminConnections, max(minKept, files/8))
		}
	}
}
