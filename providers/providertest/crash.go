package providertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// The CrashDurable case: a child process (this test binary again, running
// only this case) opens the storage through the registry and writes and
// deletes, reporting each acknowledged call on a pipe, until the parent
// kills it with SIGKILL at a random point. The parent then opens the
// storage again and finds every acknowledged write and delete there.
//
// Killing the writer loses what it held in its own memory (a write-behind
// buffer, an unflushed log). A provider that leaves acknowledged data in
// the operating system's page cache, never synced, survives that; a power
// loss would not spare it. So where this process may mount a file system,
// the storage directory is on a loop-mounted ext4 image, and after the kill
// the parent keeps only a copy of the image as the writer left it on its
// "disk" (what fsync put there; the kernel's own write-back waits 30 s, the
// journal commits every 600 s), then mounts that copy in its place.

// crashEnv carries the writer's order (its DatabaseConfig as JSON) into the
// child process.
const crashEnv = "NAVIUS_PROVIDERTEST_CRASH_WRITER"

// In the child, the acknowledgement pipe (fd 3) must not reach the
// processes the test starts before the writer runs (a server it needs):
// they would keep the pipe open after the writer's death.
func init() {
	if crashWriterOrder() != "" {
		syscall.CloseOnExec(3)
	}
}

func crashWriterOrder() string { return os.Getenv(crashEnv) }

// crashWrites bounds the writer, should its parent not kill it.
const crashWrites = 100000

func crashDurable(t *testing.T, s *suiteRun, h DatabaseHarness) {
	if order := crashWriterOrder(); order != "" {
		crashWriter(t, order)
		return
	}
	dir, powerLoss := crashDir(t)
	cfg := h.Config(t, dir)
	order, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acks, ackW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer acks.Close()
	// The child runs the test function again up to the suite, with its
	// setup (a server it starts, temporary files): in a process group of
	// its own, killed whole, with its temporary files in this case's.
	tmp := filepath.Join(t.TempDir(), "writer")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(order), "TMPDIR="+tmp)
	cmd.ExtraFiles = []*os.File{ackW} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the writer: %v", err)
	}
	ackW.Close()

	// Kill after a random number of acknowledgements; lines the writer
	// finished before it died count too. A key whose delete was begun but
	// not acknowledged may be there or not.
	killAt := 30 + rand.IntN(170)
	sets, deletes := map[string]string{}, map[string]bool{}
	n, killed := 0, false
	sc := bufio.NewScanner(acks)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "set":
			sets[f[1]] = f[2]
		case len(f) == 2 && f[0] == "deleting":
			delete(sets, f[1])
			continue
		case len(f) == 2 && f[0] == "del":
			deletes[f[1]] = true
		default:
			continue // a line cut short by the kill
		}
		if n++; n == killAt {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			killed = true
		}
	}
	waitErr := cmd.Wait()
	if !killed {
		t.Fatalf("the writer stopped after %d acknowledged calls, before it was killed (%v):\n%s", n, waitErr, lastLines(out.String(), 20))
	}
	how := "the writer was killed"
	if powerLoss != nil {
		powerLoss(t)
		how += " and the machine lost power (simulated: its loop-mounted file system kept only what was synced)"
	} else {
		t.Log("the machine's crash is not simulated: loop-mounting a file system needs root on Linux and mkfs.ext4")
	}

	db := openConfig(t, cfg)
	s.tested(db)
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	lost := 0
	for k, v := range sets {
		got, err := db.Get(ctx, "crash", k)
		if err != nil || string(got) != v {
			lost++
			if lost <= 3 {
				t.Errorf("after %d acknowledged calls %s: Get %s = %.20q, %v; want %.20q", n, how, k, got, err, v)
			}
		}
	}
	for k := range deletes {
		if _, err := db.Get(ctx, "crash", k); !errors.Is(err, providers.ErrNotFound) {
			lost++
			if lost <= 3 {
				t.Errorf("after %d acknowledged calls %s: a deleted key %s is back (err = %v)", n, how, k, err)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes and deletes were lost when %s", lost, len(sets)+len(deletes), how)
	}
	t.Logf("%d acknowledged writes and deletes survived when %s", len(sets)+len(deletes), how)
}

// crashWriter is the child: it writes new keys, deletes every fourth one
// it wrote two writes ago, and reports each acknowledged call on fd 3.
func crashWriter(t *testing.T, order string) {
	var cfg providers.DatabaseConfig
	if err := json.Unmarshal([]byte(order), &cfg); err != nil {
		t.Fatalf("the writer's order: %v", err)
	}
	acks := os.NewFile(3, "acks")
	db := openConfig(t, cfg)
	ctx := context.Background()
	for i := range crashWrites {
		k := fmt.Sprintf("k%06d", i)
		v := fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%97))
		if err := db.Set(ctx, "crash", k, []byte(v)); err != nil {
			t.Fatalf("Set %s: %v", k, err)
		}
		fmt.Fprintf(acks, "set %s %s\n", k, v)
		if i%4 == 3 {
			gone := fmt.Sprintf("k%06d", i-2)
			fmt.Fprintf(acks, "deleting %s\n", gone)
			if existed, err := db.Delete(ctx, "crash", gone); err != nil || !existed {
				t.Fatalf("Delete %s = %v, %v", gone, existed, err)
			}
			fmt.Fprintf(acks, "del %s\n", gone)
		}
	}
	t.Fatalf("the writer was not killed after %d writes", crashWrites)
}

// runPattern is the -test.run pattern that selects exactly the test name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// crashDir is a fresh directory for the storage. When this process may
// mount file systems, it is the root of an ext4 image loop-mounted with a
// long journal commit interval, and powerLoss replaces the mount by a copy
// of the image as it is at that moment, the state a power loss would leave.
func crashDir(t *testing.T) (dir string, powerLoss func(*testing.T)) {
	base := t.TempDir()
	dir = filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return dir, nil
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		return dir, nil
	}
	img := filepath.Join(base, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil || os.Truncate(img, 256<<20) != nil {
		return dir, nil
	}
	mount := func(image string) error {
		return command("mount", "-o", "loop,commit=600", image, dir)
	}
	if command("mkfs.ext4", "-q", "-F", img) != nil || mount(img) != nil {
		t.Log("loop-mounting a file system failed: the machine's crash is not simulated")
		return dir, nil
	}
	t.Cleanup(func() { _ = command("umount", dir) })
	return dir, func(t *testing.T) {
		crashed := filepath.Join(base, "crashed.img")
		if err := command("cp", "--sparse=always", img, crashed); err != nil {
			t.Fatalf("copy the disk image: %v", err)
		}
		if err := command("umount", dir); err != nil {
			t.Fatalf("unmount the writer's file system: %v", err)
		}
		if err := mount(crashed); err != nil {
			t.Fatalf("mount the disk as the crash left it: %v", err)
		}
	}
}

// command runs a program, its output in the error.
func command(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
