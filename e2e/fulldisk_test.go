package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
)

// privateTmpfs mounts a tmpfs of size on a fresh directory and unmounts it
// when the test ends; it skips the test where that is not allowed (not
// root, or a container without CAP_SYS_ADMIN).
func privateTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		for range 50 { // the server may still hold its file for a moment
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("could not unmount %s", dir)
	})
	return dir
}

// ballast fills the file system of dir with a file until it is full, and
// returns that file's path.
func ballast(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ballast")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for range 1 << 20 { // bounded: 4 GiB
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
	t.Fatal("the file system did not fill up")
	return ""
}

// TestAbuseFullDisk: a bolt database on a 2 MB tmpfs. When the disk fills,
// writes get 507 whose body names no path, /health shows database_writes
// DOWN, one log line says why, a DELETE is answered with an explanation;
// when space returns, writes work again without a restart.
func TestAbuseFullDisk(t *testing.T) {
	mnt := privateTmpfs(t, "2m")
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=bolt://" + mnt + "/data.db", abuseAuth, "NAVIUS_HEALTH_CHECK_INTERVAL=50ms",
		"NAVIUS_HEALTH_CACHE_TTL=10ms", "NAVIUS_HEALTH_DISK_MIN_FREE=1", "NAVIUS_CACHE_URL=none"})
	write := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+abuseAdmin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	value := strings.Repeat("v", 64<<10)
	if s, body := write("PUT", "/api/v1/c/first", value); s != 204 {
		t.Fatalf("PUT on an empty disk = %d %s", s, body)
	}
	hole := ballast(t, mnt)
	var status int
	var body string
	for i := range 64 { // bolt grows its file in steps: a few writes may still fit
		if status, body = write("PUT", fmt.Sprintf("/api/v1/c/k%d", i), value); status != 204 {
			break
		}
	}
	t.Logf("a PUT on a full disk: %d %s", status, body)
	if status != 507 || strings.Contains(body, mnt) || strings.Contains(body, "/") {
		t.Fatalf("PUT on a full disk = %d %s: want 507 naming no path", status, body)
	}
	waitHealth(t, p, "database_writes", "DOWN")
	if s, body := write("DELETE", "/api/v1/c/first", ""); s != 204 && !(s == 507 && strings.Contains(body, "even a delete")) {
		t.Fatalf("DELETE on a full disk = %d %s: want it done, or 507 explaining why not", s, body)
	} else {
		t.Logf("a DELETE on a full disk: %d %s", s, body)
	}
	if n := strings.Count(p.Logs(), "no space left on device"); n != 1 {
		t.Fatalf("%d log lines say the disk is full, want 1:\n%s", n, tail(p.Logs(), 20))
	}
	// Space returns: writes work again, and so does the indicator.
	if err := os.Remove(hole); err != nil {
		t.Fatal(err)
	}
	if s, body := write("PUT", "/api/v1/c/again", value); s != 204 {
		t.Fatalf("PUT once space returned = %d %s", s, body)
	}
	waitHealth(t, p, "database_writes", "UP")
	waitLog(t, p, `"msg":"database_writes is up again"`)
}

// waitHealth waits (up to 10 s) for /health's component to show status.
func waitHealth(t *testing.T, p *proc, component, status string) {
	t.Helper()
	var last string
	for range 200 {
		c := clientFrom("127.0.0.1")
		s, _, body := timed(t, c, p, "/health", abuseAdmin)
		var h struct {
			Components map[string]struct {
				Status string `json:"status"`
			} `json:"components"`
		}
		if (s == 200 || s == 503) && json.Unmarshal([]byte(body), &h) == nil && h.Components[component].Status == status {
			return
		}
		last = body
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/health's %s is not %s: %.500s", component, status, last)
}

// TestAbuseMemoryCapacity: a memory database of 64 KiB (memory.capacity)
// filled with 10 KB values. A PUT past it gets 507 with a JSON error that
// says nothing was written and that deleting entries makes room, with the
// request's ID; a PUT that would grow a stored value is refused the same
// way and leaves it; every value stored before is still read back (the
// cache is off, so the reads are the database's); /health shows
// database_writes DOWN with memory.capacity as the cause while the
// instance stays ready, logged once; a DELETE makes room for a later PUT,
// after which database_writes is UP again.
func TestAbuseMemoryCapacity(t *testing.T) {
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_MEMORY_CAPACITY=64KiB", abuseAuth,
		"NAVIUS_HEALTH_CHECK_INTERVAL=50ms", "NAVIUS_HEALTH_CACHE_TTL=10ms", "NAVIUS_CACHE_URL=none"})
	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		return harness.Request(t, method, p.URL+path, body, "Authorization", "Bearer "+abuseAdmin)
	}
	value := func(i int) string { return fmt.Sprintf("%05d", i) + strings.Repeat("v", 10_000-5) }

	stored := 0
	status, hdr, body := 0, http.Header(nil), ""
	for i := range 20 { // 20 values are 200 KB: well past 64 KiB
		if status, hdr, body = do("PUT", fmt.Sprintf("/api/v1/c/k%02d", i), value(i)); status != 204 {
			break
		}
		stored++
	}
	t.Logf("%d values stored; then a PUT: %d %s", stored, status, body)
	if stored < 2 || status != 507 {
		t.Fatalf("after %d PUTs of 10 KB into 64 KiB: %d %s; want some stored, then 507", stored, status, body)
	}
	var e struct {
		Error struct {
			Code, Message string
			RequestID     string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("507 body %q (%s): not a JSON error: %v", body, hdr.Get("Content-Type"), err)
	}
	if e.Error.Code != "insufficient_storage" || !strings.Contains(e.Error.Message, "nothing was written") ||
		!strings.Contains(e.Error.Message, "deleting entries makes room") || e.Error.RequestID == "" || e.Error.RequestID != hdr.Get("X-Request-ID") {
		t.Fatalf("507 body %s (X-Request-ID %q): want code insufficient_storage, a message saying nothing was written and that deleting makes room, and the request's ID",
			body, hdr.Get("X-Request-ID"))
	}
	// Growing a stored value does not fit either, and leaves it as it was.
	if s, _, b := do("PUT", "/api/v1/c/k00", strings.Repeat("w", 60_000)); s != 507 {
		t.Fatalf("PUT growing k00 past the capacity = %d %s, want 507", s, b)
	}
	for i := range stored {
		if s, _, b := do("GET", fmt.Sprintf("/api/v1/c/k%02d", i), ""); s != 200 || b != value(i) {
			t.Fatalf("GET k%02d after the refused writes = %d %.40q..., want 200 with its value", i, s, b)
		}
	}

	waitHealth(t, p, "database_writes", "DOWN")
	s, _, health := do("GET", "/health", "")
	if s != 200 || !strings.Contains(health, `"status":"UP"`) || !strings.Contains(health, "memory.capacity") {
		t.Fatalf("/health with writes refused = %d %.800s; want 200, UP, and database_writes naming memory.capacity", s, health)
	}
	if s, _, b := do("GET", "/readyz", ""); s != 200 {
		t.Fatalf("/readyz with writes refused = %d %s, want 200 (reads still work)", s, b)
	}
	waitLog(t, p, `"msg":"database_writes is down"`)
	if n := strings.Count(p.Logs(), `"msg":"database_writes is down"`); n != 1 {
		t.Fatalf("%d log lines say database_writes is down, want 1:\n%s", n, tail(p.Logs(), 20))
	}

	// A DELETE makes room: the next PUT of the same size fits.
	if s, _, b := do("DELETE", "/api/v1/c/k01", ""); s != 204 {
		t.Fatalf("DELETE at capacity = %d %s, want 204", s, b)
	}
	if s, _, b := do("PUT", "/api/v1/c/k99", value(99)); s != 204 {
		t.Fatalf("PUT after a DELETE made room = %d %s, want 204", s, b)
	}
	if s, _, b := do("GET", "/api/v1/c/k99", ""); s != 200 || b != value(99) {
		t.Fatalf("GET of the PUT after the DELETE = %d %.40q...", s, b)
	}
	waitHealth(t, p, "database_writes", "UP")
	waitLog(t, p, `"msg":"database_writes is up again"`)
}
