package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/harness"
)

// TestCommand runs the command as people do: a Redis in the background
// (--detach) whose export line works, env repeats it, a second start is
// refused naming the running one, stop ends it and leaves no directory;
// then a PostgreSQL in the foreground until SIGTERM, with its database
// ready. Each in a TMPDIR of the test's, so that a developer's own backend
// is left alone.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devbackend")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp, err := os.MkdirTemp("/tmp", "devbackend-test-") // one the postgres user can enter
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o755)
	devbackend := func(args ...string) (int, string, string) {
		t.Helper()
		return harness.Run(t, "", "", bin, []string{"TMPDIR=" + tmp}, args...)
	}
	url := func(export string) string {
		t.Helper()
		u, ok := strings.CutPrefix(strings.TrimSpace(export), "export NAVIUS_DATABASE_URL='")
		if !ok || !strings.HasSuffix(u, "'") {
			t.Fatalf("not an export line: %q", export)
		}
		return strings.TrimSuffix(u, "'")
	}

	code, out, errOut := devbackend("redis", "--detach")
	if code != 0 {
		t.Fatalf("redis --detach: exit %d\n%s%s", code, out, errOut)
	}
	t.Cleanup(func() { devbackend("stop", "redis") })
	opts, err := goredis.ParseURL(url(out))
	if err != nil {
		t.Fatal(err)
	}
	rc := goredis.NewClient(opts)
	defer rc.Close()
	if err := rc.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the printed URL %s: %v", url(out), err)
	}
	if code, again, _ := devbackend("env", "redis"); code != 0 || again != out {
		t.Errorf("env redis: exit %d %q, want %q", code, again, out)
	}
	if code, _, errOut := devbackend("redis"); code != 1 || !strings.Contains(errOut, "a redis dev backend already runs") {
		t.Errorf("a second redis: exit %d %q", code, errOut)
	}
	if code, _, errOut := devbackend("stop", "redis"); code != 0 || !strings.Contains(errOut, "stopped redis") {
		t.Fatalf("stop redis: exit %d %q", code, errOut)
	}
	if err := rc.Ping(context.Background()).Err(); err == nil {
		t.Error("Redis still answers after stop")
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "navius-dev-*")); len(left) != 0 {
		t.Errorf("stop left %v", left)
	}
	if code, _, errOut := devbackend("env", "redis"); code != 1 || !strings.Contains(errOut, "no redis dev backend runs") {
		t.Errorf("env after stop: exit %d %q", code, errOut)
	}

	cmd := exec.Command(bin, "postgres")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 4096)
	n, _ := stdout.Read(line) // the export line comes once it is ready
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url(string(line[:n])))
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("the printed URL: %v", err)
	}
	conn.Close(ctx)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("postgres after SIGTERM: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "navius-dev-*")); len(left) != 0 {
		t.Errorf("SIGTERM left %v", left)
	}

	for _, args := range [][]string{nil, {"mysql"}, {"stop"}, {"redis", "extra"}} {
		if code, _, errOut := devbackend(args...); code != 2 || !strings.Contains(errOut, "usage: scripts/dev-backend.sh") {
			t.Errorf("devbackend %v: exit %d %q", args, code, errOut)
		}
	}
}
