// Package pgtest runs private PostgreSQL servers: a cluster made with
// initdb in a directory of its own, started on a free loopback port with
// its own unix socket directory. Start is for tests (a failure fails the
// test, the server goes when it ends); Launch returns errors and leaves
// Close to the caller (TestMain, and internal/devbackend, which runs one
// for people). No product package uses it.
//
// initdb refuses to run as root, so when the tests run as root (as CI does)
// the cluster belongs to the unprivileged "postgres" system user, which
// Debian's postgresql package creates. A missing server fails the test with
// a message saying how to install it; it never skips.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/navius-dev/navius/internal/harness"
)

// PasswordGroup is the role whose members log in over TCP with a password
// (scram-sha-256); every other role is trusted. Tests create password roles
// with CREATE ROLE name LOGIN PASSWORD '...' IN ROLE pgtest_password.
const PasswordGroup = "pgtest_password"

// Options shape a server.
type Options struct {
	// Durable keeps fsync and synchronous commit on. Off by default: the
	// tests that do not kill PostgreSQL itself gain nothing from it.
	Durable bool
	// CertFile and KeyFile turn TLS on with this server certificate.
	CertFile, KeyFile string
	// RequireTLS refuses TCP connections without TLS (hostnossl reject).
	RequireTLS bool
	// Settings are extra server settings (-c name=value).
	Settings map[string]string
	// Dir is the cluster's directory, made if missing and removed by
	// Close; by default a new one under BaseDir.
	Dir string
}

// Server is a running (or stopped) private PostgreSQL cluster.
type Server struct {
	Port int
	Host string // 127.0.0.1
	// SocketDir holds the server's unix socket.
	SocketDir string

	opts    Options
	dir     string // owned by the server's user; holds data/, the socket and the log
	bin     string // directory of initdb and postgres
	cred    *syscall.Credential
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// Start launches a server for one test and stops it when the test ends.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	s, err := Launch(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Launch initialises and starts a server; the caller must Close it. It is
// for TestMain, where a package shares one server.
func Launch(opts Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", opts: opts, bin: bin}
	if s.cred, err = serverUser(); err != nil {
		return nil, err
	}
	if s.dir, err = s.makeDir(opts.Dir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	s.SocketDir = s.dir
	if err := s.initdb(); err != nil {
		return nil, err
	}
	if s.Port, err = harness.FreePort(); err != nil {
		return nil, err
	}
	if err := s.Restart(); err != nil {
		return nil, err
	}
	if err := s.Exec(context.Background(), "postgres", "CREATE ROLE "+PasswordGroup+" NOLOGIN"); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// BinDir finds the directory of the PostgreSQL server programs: $PG_BINDIR,
// else the newest /usr/lib/postgresql/<version>/bin (Debian keeps them off
// PATH), else initdb's directory on PATH.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, p := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("PG_BINDIR=%s holds no initdb and postgres", d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("the PostgreSQL server (initdb, postgres) is not installed: apt-get install -y postgresql (scripts/deps.sh does it; make test runs it), or set PG_BINDIR")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// serverUser is the user the cluster runs as: the current one, or the
// "postgres" system user when running as root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New(`running as root, the PostgreSQL server needs the unprivileged "postgres" user: apt-get install -y postgresql creates it`)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// command runs one of the server programs as the server's user, in a
// process group of its own (a terminal's ^C reaches the test, not the
// server), stopped by SIGQUIT (immediate shutdown) if the test process dies.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// BaseDir is where clusters' directories go: $TMPDIR, else /tmp when
// running as root and $TMPDIR lies in a directory that only its owner may
// enter (such as /root), since the server runs as the "postgres" user.
func BaseDir() (string, error) {
	base := os.TempDir()
	if os.Geteuid() == 0 && !reachable(base) {
		base = "/tmp"
		if !reachable(base) {
			return "", errors.New(`pgtest: no temporary directory the "postgres" user can enter: set TMPDIR to one`)
		}
	}
	return base, nil
}

// makeDir makes the cluster's directory: dir, or a new one under BaseDir.
func (s *Server) makeDir(dir string) (string, error) {
	if dir != "" {
		return dir, os.MkdirAll(dir, 0o700)
	}
	base, err := BaseDir()
	if err != nil {
		return "", err
	}
	return os.MkdirTemp(base, "pgtest-")
}

// reachable reports whether every directory on path may be entered by
// other users.
func reachable(path string) bool {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}

// own gives a path to the server's user.
func (s *Server) own(path string) error {
	if s.cred == nil {
		return nil
	}
	return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
}

func (s *Server) initdb() error {
	if err := s.own(s.dir); err != nil {
		return err
	}
	out, err := s.command("initdb", "-D", s.DataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\n"
	if s.opts.RequireTLS {
		hba += "hostnossl all all 0.0.0.0/0 reject\n"
	}
	hba += "host all +" + PasswordGroup + " 127.0.0.1/32 scram-sha-256\n" +
		"host all all 127.0.0.1/32 trust\n"
	if err := s.writeOwned(filepath.Join(s.DataDir(), "pg_hba.conf"), []byte(hba)); err != nil {
		return err
	}
	for _, f := range []struct{ src, dst string }{{s.opts.CertFile, "server.crt"}, {s.opts.KeyFile, "server.key"}} {
		if f.src == "" {
			continue
		}
		b, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		if err := s.writeOwned(filepath.Join(s.DataDir(), f.dst), b); err != nil {
			return err
		}
	}
	return nil
}

// writeOwned writes a file only the server's user can read (the server
// refuses a key file others can read).
func (s *Server) writeOwned(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return s.own(path)
}

// DataDir is the cluster's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// URL is a postgres:// URL for database db as the superuser "postgres", over
// TCP without TLS.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.Addr(), db)
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Restart starts the server (again) on its port with its data.
func (s *Server) Restart() error {
	if s.cmd != nil {
		return errors.New("pgtest: the server is running")
	}
	args := []string{"-D", s.DataDir(), "-p", strconv.Itoa(s.Port), "-k", s.SocketDir,
		"-c", "listen_addresses=" + s.Host, "-c", "max_connections=200", "-c", "shared_buffers=32MB"}
	settings := map[string]string{}
	if !s.opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	if s.opts.CertFile != "" {
		settings["ssl"] = "on"
	}
	for k, v := range s.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	var err error
	if s.logFile == nil {
		if s.logFile, err = os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	cmd := s.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = s.logFile, s.logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("postgres: %v", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.Exec(ctx, "postgres", "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			s.cmd = nil
			return fmt.Errorf("postgres exited on start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres on %s did not accept connections within 20s (%v):\n%s", s.Addr(), err, s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// Stop shuts the server down the way an operator does for maintenance
// (fast shutdown: sessions are terminated) and waits until it has gone.
func (s *Server) Stop() { s.signal(syscall.SIGINT) }

// Crash stops the server the way a crash does (immediate shutdown, no
// checkpoint); the next Restart recovers from the WAL.
func (s *Server) Crash() { s.signal(syscall.SIGQUIT) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.Resume() // a paused server must run to exit
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Pause freezes the postmaster and every backend (SIGSTOP to each; the
// backends are group leaders of their own, so one signal to the group does
// not reach them): connections stay open and the kernel still accepts new
// ones, but nothing answers, as with a hung server. Resume lets it go on.
func (s *Server) Pause() error {
	if s.cmd == nil {
		return errors.New("pgtest: the server is not running")
	}
	pm := s.cmd.Process.Pid
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil { // first, so that it starts no backend meanwhile
		return err
	}
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	return nil
}

// Resume continues a paused server.
func (s *Server) Resume() error {
	if s.cmd == nil {
		return errors.New("pgtest: the server is not running")
	}
	pm := s.cmd.Process.Pid
	for _, pid := range children(pm) {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	return syscall.Kill(pm, syscall.SIGCONT)
}

// children lists the processes whose parent is pid (from /proc).
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so parse after
		// the last ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, child)
			}
		}
	}
	return out
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	s.Stop()
	if s.logFile != nil {
		s.logFile.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// Connect opens a connection as the superuser to database db over the unix
// socket.
func (s *Server) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.SocketDir, s.Port, db))
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// Exec runs statements as the superuser in database db.
func (s *Server) Exec(ctx context.Context, db, sql string, args ...any) error {
	c, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql, args...)
	return err
}

// QueryValue runs a query as the superuser in database db and scans the
// first column of its single row into dst.
func (s *Server) QueryValue(ctx context.Context, db string, dst any, sql string, args ...any) error {
	c, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.QueryRow(ctx, sql, args...).Scan(dst)
}

// CreateDatabase creates an empty database.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	return s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// MustExec is Exec that fails the test on an error.
func (s *Server) MustExec(t testing.TB, db, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, db, sql, args...); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(sql), err)
	}
}
