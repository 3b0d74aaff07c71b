// Package redistest starts real redis-server processes on free loopback
// ports: one server (Start, Launch), a Sentinel setup (StartSentinel,
// LaunchSentinel) and a Cluster (StartCluster, LaunchCluster). The Start
// functions are for tests (a failure fails the test, the processes stop
// when it ends); the Launch functions return errors and leave stopping to
// the caller (internal/devbackend runs them for people). No product
// package uses it.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/harness"
)

// Server is a running redis-server.
type Server struct {
	Port int
	Addr string // 127.0.0.1:port
	// Args are extra redis-server arguments it was started with.
	Args []string
	// conf is a config file given before the arguments (a sentinel's,
	// which Sentinel rewrites as it learns the topology).
	conf string
	// password is the one Client authenticates with (a sentinel's
	// requirepass, set in its config file).
	password string
	dir      string
	cmd      *exec.Cmd
	t        testing.TB // nil outside tests
	client   *goredis.Client
}

// URL is redis://addr/db.
func (s *Server) URL(db int) string { return fmt.Sprintf("redis://%s/%d", s.Addr, db) }

// Start runs redis-server (from PATH) on a free loopback port, without
// persistence, and stops it when the test ends. It fails the test when
// redis-server is not installed: make test installs it.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := Launch(t.TempDir(), args...)
	return started(t, s, err)
}

// started ties a launched server to a test.
func started(t testing.TB, s *Server, err error) *Server {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	tie(t, s.Close, s)
	return s
}

// tie ties launched servers to a test: from now on they fail it rather than
// return errors, and stop ends them when it ends.
func tie(t testing.TB, stop func(), servers ...*Server) {
	for _, s := range servers {
		s.t = t
	}
	t.Cleanup(stop)
}

// Launch runs redis-server on a free loopback port with its files in dir;
// the caller must Close it.
func Launch(dir string, args ...string) (*Server, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	return launchOn(dir, port, "", args...)
}

// launchOn starts redis-server on port; conf, when not empty, is written to
// a config file given before the arguments.
func launchOn(dir string, port int, conf string, args ...string) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server is not on PATH: install it (apt-get install -y redis-server; make test and scripts/deps.sh do)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{Port: port, Args: args, dir: dir}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	if conf != "" {
		s.conf = filepath.Join(s.dir, "redis.conf")
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			return nil, err
		}
	}
	return s, s.start()
}

func (s *Server) start() error {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(append(args,
		"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
	), s.Args...)
	s.cmd = exec.Command("redis-server", args...)
	// Its own process group (a terminal's ^C reaches the caller, which
	// stops it), and gone with the caller.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		return fmt.Errorf("redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server on %s did not answer PING within 10s:\n%s", s.Addr, s.Log())
}

// ping sends PING over a plain connection (TLS-only servers answer on their
// plain port when one is configured).
func (s *Server) ping() bool {
	c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Stop kills the server (as a crash would); Restart starts it again on the
// same port, empty.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Close stops the server and closes its client.
func (s *Server) Close() {
	s.Stop()
	if s.client != nil {
		s.client.Close()
	}
}

// Restart starts a stopped server again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Pause freezes the server (SIGSTOP): connections stay open and new ones are
// accepted by the kernel, but nothing answers, as with a hung Redis.
// Resume (SIGCONT) lets it go on.
func (s *Server) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("pausing redis-server: %v", err)
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("resuming redis-server: %v", err)
	}
}

// Client is a go-redis client to the server (one per server, kept across
// restarts, closed with the server).
func (s *Server) Client() *goredis.Client {
	if s.client == nil {
		s.client = goredis.NewClient(&goredis.Options{Addr: s.Addr, Password: s.password, Protocol: 2, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	}
	return s.client
}

// Running reports whether the server process runs (it was not stopped).
func (s *Server) Running() bool { return s.cmd != nil }

// Log is the server's log file so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}
