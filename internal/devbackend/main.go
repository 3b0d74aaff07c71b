// Command devbackend starts a private backend to try navius against, in
// one command, from the code the tests use (internal/pgtest,
// internal/redistest): a PostgreSQL cluster, a Redis server, a Redis
// Sentinel setup (a master, two replicas, three sentinels) or a Redis
// Cluster (three masters, three replicas), on free loopback ports, in a
// directory of its own. It prints the NAVIUS_DATABASE_URL to use and runs
// until Ctrl-C or SIGTERM (or `stop KIND`), then stops the servers and
// removes the directory. scripts/dev-backend.sh builds and runs it.
//
//	devbackend postgres|redis|sentinel|cluster [--detach]
//	devbackend stop KIND
//	devbackend env KIND
//
// Standard output holds only the export line, so that
// eval "$(scripts/dev-backend.sh postgres --detach)" sets it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/redistest"
)

const usage = `usage: scripts/dev-backend.sh postgres|redis|sentinel|cluster [--detach]
       scripts/dev-backend.sh stop postgres|redis|sentinel|cluster
       scripts/dev-backend.sh env postgres|redis|sentinel|cluster`

// kinds are the backends, with what each says about itself and the
// FEATURES a navius needs for it.
var kinds = map[string]struct{ what, features string }{
	"postgres": {"a PostgreSQL server", "default,postgres"},
	"redis":    {"a Redis server", "default,redis"},
	"sentinel": {"a Redis Sentinel setup: a master, two replicas and three sentinels", "default,redis"},
	"cluster":  {"a Redis Cluster: three masters with a replica each", "default,redis"},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		return fail(2, errors.New(usage))
	}
	cmd, kind := "start", args[0]
	if args[0] == "stop" || args[0] == "env" {
		if len(args) != 2 {
			return fail(2, fmt.Errorf("%s takes the backend: postgres, redis, sentinel or cluster\n%s", args[0], usage))
		}
		cmd, kind = args[0], args[1]
	}
	if _, ok := kinds[kind]; !ok {
		return fail(2, fmt.Errorf("unknown backend %q: postgres, redis, sentinel or cluster\n%s", kind, usage))
	}
	st, err := stateOf(kind)
	if err != nil {
		return fail(1, err)
	}
	switch {
	case cmd == "stop":
		return st.stop()
	case cmd == "env":
		if url, pid := st.running(); pid != 0 {
			fmt.Println(exportLine(url))
			return 0
		}
		return fail(1, fmt.Errorf("no %s dev backend runs: start one with scripts/dev-backend.sh %s", kind, kind))
	case len(args) == 2 && (args[1] == "--detach" || args[1] == "-d"):
		return st.detach()
	case len(args) > 1:
		return fail(2, fmt.Errorf("unexpected %q\n%s", strings.Join(args[1:], " "), usage))
	}
	return st.serve()
}

func fail(code int, err error) int {
	fmt.Fprintln(os.Stderr, "dev-backend:", err)
	return code
}

func exportLine(url string) string { return "export NAVIUS_DATABASE_URL='" + url + "'" }

// state is where a backend of a kind keeps its servers' files, the pid of
// the devbackend that runs it and, once it is ready, its URL: one
// directory per kind, so that stop and env find it.
type state struct {
	kind, dir string
}

func stateOf(kind string) (state, error) {
	base, err := pgtest.BaseDir() // one the "postgres" user can enter
	if err != nil {
		return state{}, err
	}
	return state{kind: kind, dir: filepath.Join(base, fmt.Sprintf("navius-dev-%d-%s", os.Getuid(), kind))}, nil
}

func (s state) file(name string) string { return filepath.Join(s.dir, name) }

// running is the URL and pid of a running backend of the kind (pid 0 when
// none runs; its URL is "" until it is ready).
func (s state) running() (url string, pid int) {
	b, err := os.ReadFile(s.file("pid"))
	if err != nil {
		return "", 0
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return "", 0
	}
	u, _ := os.ReadFile(s.file("url"))
	return strings.TrimSpace(string(u)), pid
}

// serve starts the backend, says how to use it, and runs until told to
// stop.
func (s state) serve() int {
	if url, pid := s.running(); pid != 0 {
		return fail(1, fmt.Errorf("a %s dev backend already runs (pid %d) at %s: use it (scripts/dev-backend.sh env %s), or stop it first (scripts/dev-backend.sh stop %s)", s.kind, pid, url, s.kind, s.kind))
	}
	_ = os.RemoveAll(s.dir) // left by one that was killed
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fail(1, err)
	}
	defer os.RemoveAll(s.dir)
	if err := os.WriteFile(s.file("pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(1, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	fmt.Fprintf(os.Stderr, "dev-backend: starting %s in %s ...\n", kinds[s.kind].what, s.dir)
	url, closeFn, err := start(s.kind, s.file("servers"))
	if err != nil {
		return fail(1, err)
	}
	defer closeFn()
	if err := os.WriteFile(s.file("url"), []byte(url), 0o644); err != nil {
		return fail(1, err)
	}
	fmt.Println(exportLine(url))
	fmt.Fprintf(os.Stderr, "dev-backend: %s runs (pid %d). In another terminal:\n"+
		"  %s\n  make run FEATURES=%s\n"+
		"Stop it with Ctrl-C here, or: scripts/dev-backend.sh stop %s\n",
		s.kind, os.Getpid(), exportLine(url), kinds[s.kind].features, s.kind)
	<-ctx.Done()
	fmt.Fprintf(os.Stderr, "dev-backend: stopping %s\n", s.kind)
	return 0
}

// start launches the servers of kind under dir and returns the URL navius
// takes and the function that stops them.
func start(kind, dir string) (string, func(), error) {
	switch kind {
	case "postgres":
		pg, err := pgtest.Launch(pgtest.Options{Dir: dir})
		if err != nil {
			return "", nil, err
		}
		if err := pg.CreateDatabase(context.Background(), "navius"); err != nil {
			pg.Close()
			return "", nil, err
		}
		return pg.URL("navius"), pg.Close, nil
	case "redis":
		r, err := redistest.Launch(dir)
		if err != nil {
			return "", nil, err
		}
		return r.URL(0), r.Close, nil
	case "sentinel":
		r, err := redistest.LaunchSentinel(dir)
		if err != nil {
			return "", nil, err
		}
		return r.URL(0), r.Close, nil
	default:
		r, err := redistest.LaunchCluster(dir)
		if err != nil {
			return "", nil, err
		}
		return r.URL(), r.Close, nil
	}
}

// detach runs serve in a process of its own (its own session, so that
// closing the terminal leaves it running; output in a log next to its
// directory), waits until it is ready and prints its export line.
func (s state) detach() int {
	self, err := os.Executable()
	if err != nil {
		return fail(1, err)
	}
	logPath := s.dir + ".log"
	log, err := os.Create(logPath)
	if err != nil {
		return fail(1, err)
	}
	defer log.Close()
	cmd := exec.Command(self, s.kind)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fail(1, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.After(2 * time.Minute)
	for {
		if url, pid := s.running(); pid == cmd.Process.Pid && url != "" {
			fmt.Println(exportLine(url))
			fmt.Fprintf(os.Stderr, "dev-backend: %s runs in the background (pid %d, log %s); then: make run FEATURES=%s\n"+
				"Stop it with: scripts/dev-backend.sh stop %s\n", s.kind, pid, logPath, kinds[s.kind].features, s.kind)
			return 0
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			return fail(1, fmt.Errorf("%s did not start:\n%s", s.kind, strings.TrimSpace(string(b))))
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return fail(1, fmt.Errorf("%s was not ready within 2 minutes; see %s", s.kind, logPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends the running backend of the kind (SIGTERM: it stops its
// servers and removes its directory) and waits until it has gone.
func (s state) stop() int {
	_, pid := s.running()
	if pid == 0 {
		fmt.Fprintf(os.Stderr, "dev-backend: no %s dev backend runs\n", s.kind)
		return 0
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fail(1, err)
	}
	for range 600 { // at most a minute
		if syscall.Kill(pid, 0) != nil {
			_ = os.Remove(s.dir + ".log") // a detached one's
			fmt.Fprintf(os.Stderr, "dev-backend: stopped %s (pid %d)\n", s.kind, pid)
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fail(1, fmt.Errorf("%s (pid %d) did not stop within a minute of SIGTERM", s.kind, pid))
}
