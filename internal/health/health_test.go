package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

func ind(name string, critical bool, status providers.Status, delay time.Duration) providers.HealthIndicator {
	return providers.HealthIndicator{Name: name, Critical: critical, Check: func(ctx context.Context) providers.HealthResult {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		return providers.HealthResult{Status: status}
	}}
}

func TestAggregate(t *testing.T) {
	s := New(time.Second, 0, "v1.2.3")
	s.Add(ind("db", true, providers.StatusUp, 0), ind("disk", false, providers.StatusDown, 0))
	r := s.Check(context.Background())
	if r.Status != providers.StatusUp {
		t.Fatalf("a failing non-critical indicator made the service %s", r.Status)
	}
	if ok, _ := r.Ready(); !ok {
		t.Fatal("not ready with only a non-critical failure")
	}
	ietf := r.IETF("navius", "v1.2.3", true)
	if ietf["status"] != "warn" || ietf["version"] != "1" {
		t.Fatalf("IETF = %v", ietf)
	}

	s.Add(ind("redis", true, providers.StatusDown, 0))
	r = s.Check(context.Background())
	if r.Status != providers.StatusDown {
		t.Fatalf("a failing critical indicator left the service %s", r.Status)
	}
	ok, failing := r.Ready()
	if ok || len(failing) != 1 || failing[0] != "redis" {
		t.Fatalf("Ready = %v, %v", ok, failing)
	}
	if got := r.IETF("navius", "v1", true)["status"]; got != "fail" {
		t.Fatalf("IETF status = %v", got)
	}
	text := r.Text("readyz", ok, true)
	if !strings.Contains(text, "[+]db ok") || !strings.Contains(text, "[-]redis failed: DOWN") || !strings.HasSuffix(text, "readyz check failed\n") {
		t.Fatalf("text = %q", text)
	}
	if text := r.Text("readyz", ok, false); !strings.Contains(text, "[-]redis failed: reason withheld\n") {
		t.Fatalf("text without details = %q", text)
	}
	act := r.Actuator(true)
	comps := act["components"].(map[string]any)
	if len(comps) != 3 || act["status"] != providers.StatusDown {
		t.Fatalf("actuator = %v", act)
	}
	if _, ok := r.Actuator(false)["components"]; ok {
		t.Fatal("components shown without details")
	}
}

// TestVerboseOneLinePerCheck: an indicator whose error spans lines (a
// Sentinel's, which lists each sentinel's answer) still takes one line of
// /readyz?verbose.
func TestVerboseOneLinePerCheck(t *testing.T) {
	s := New(time.Second, 0, "v1")
	s.Add(ind("db", true, providers.StatusUp, 0), providers.HealthIndicator{Name: "redis", Critical: true,
		Check: func(context.Context) providers.HealthResult {
			return providers.HealthResult{Status: providers.StatusDown, Error: "no sentinel answers:\nsentinel 127.0.0.1:1: refused\r\nsentinel 127.0.0.1:2: refused\n"}
		}})
	r := s.Check(context.Background())
	ok, _ := r.Ready()
	lines := strings.Split(strings.TrimSuffix(r.Text("readyz", ok, true), "\n"), "\n")
	want := []string{"[+]db ok", "[-]redis failed: no sentinel answers:; sentinel 127.0.0.1:1: refused; sentinel 127.0.0.1:2: refused", "readyz check failed"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("verbose readyz:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestTimeoutAndPanic(t *testing.T) {
	s := New(100*time.Millisecond, 0, "v1")
	s.Add(ind("slow", true, providers.StatusUp, 10*time.Second),
		providers.HealthIndicator{Name: "panics", Check: func(context.Context) providers.HealthResult { panic("boom") }},
		providers.HealthIndicator{Name: "blank", Check: func(context.Context) providers.HealthResult { return providers.HealthResult{} }})
	start := time.Now()
	r := s.Check(context.Background())
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("check took %s despite the timeout", took)
	}
	if c := r.Components["slow"]; c.Status != providers.StatusDown || !strings.Contains(c.Error, "did not finish within 100ms") {
		t.Fatalf("slow = %+v", c)
	}
	if c := r.Components["panics"]; c.Status != providers.StatusDown || !strings.Contains(c.Error, "boom") {
		t.Fatalf("panics = %+v", c)
	}
	if c := r.Components["blank"]; c.Status != providers.StatusUnknown {
		t.Fatalf("blank = %+v", c)
	}
}

func TestCachedAndShared(t *testing.T) {
	var runs atomic.Int32
	s := New(time.Second, time.Hour, "v1")
	s.Add(providers.HealthIndicator{Name: "count", Check: func(context.Context) providers.HealthResult {
		runs.Add(1)
		time.Sleep(50 * time.Millisecond)
		return providers.HealthResult{Status: providers.StatusUp}
	}})
	done := make(chan struct{})
	for range 10 {
		go func() { s.Check(context.Background()); done <- struct{}{} }()
	}
	for range 10 {
		<-done
	}
	s.Check(context.Background())
	if n := runs.Load(); n != 1 {
		t.Fatalf("indicator ran %d times, want 1 (shared and cached)", n)
	}
}

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func TestStandardIndicators(t *testing.T) {
	ctx := context.Background()
	down := Database(pinger{errors.New("connection refused")}, "redis").Check(ctx)
	if down.Status != providers.StatusDown || down.Error != "connection refused" || down.ObservedUnit != "ms" {
		t.Fatalf("database down = %+v", down)
	}
	disk := Disk(t.TempDir(), 1).Check(ctx)
	if disk.Status != providers.StatusUp || disk.Details["free"].(uint64) == 0 {
		t.Fatalf("disk = %+v", disk)
	}
	full := Disk(t.TempDir(), 1<<62).Check(ctx)
	if full.Status != providers.StatusDown || !strings.Contains(full.Error, "below") {
		t.Fatalf("disk over threshold = %+v", full)
	}
	if r := Disk("/no/such/dir", 1).Check(ctx); r.Status != providers.StatusUnknown {
		t.Fatalf("disk of a missing path = %+v", r)
	}
}

// TestCacheHitRatioLeavesOutTheProbe: the cache indicator's hit ratio is
// that of the service's lookups, however often the health check runs.
func TestCacheHitRatioLeavesOutTheProbe(t *testing.T) {
	ctx := context.Background()
	c, err := memory.NewCache(1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"k", "absent", "gone"} { // one hit, two misses
		if _, _, err := c.Get(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	ind := Cache(c, "memory")
	for range 5 {
		r := ind.Check(ctx)
		if r.Status != providers.StatusUp {
			t.Fatalf("cache indicator: %+v", r)
		}
		if got := r.Details["hit_ratio"]; got != 1.0/3 {
			t.Fatalf("hit ratio %v after the probe ran, want 1/3 (the service's lookups only)", got)
		}
	}
}

// TestWrites: a write that fails for want of room takes database_writes
// DOWN with the cause; the request's own errors do not; a success takes it
// UP again.
func TestWrites(t *testing.T) {
	var w Writes
	check := func() providers.HealthResult { return w.Indicator().Check(context.Background()) }
	w.Wrote(nil)
	w.Wrote(providers.Invalid("bad key"))
	w.Wrote(context.DeadlineExceeded)
	if r := check(); r.Status != providers.StatusUp {
		t.Fatalf("after successes and the requests' own errors: %+v", r)
	}
	w.Wrote(fmt.Errorf("write /data/navius.db: no space left on device: %w", providers.ErrFull))
	if r := check(); r.Status != providers.StatusDown || !strings.Contains(r.Error, "no space left on device") {
		t.Fatalf("after a full disk: %+v", r)
	}
	w.Wrote(nil)
	if r := check(); r.Status != providers.StatusUp {
		t.Fatalf("after a write succeeded again: %+v", r)
	}
	var none *Writes
	none.Wrote(providers.ErrFull) // does nothing
}
