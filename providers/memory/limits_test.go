package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// A write to one collection never waits for another collection's lock,
// which a scan holds (for one chunk at a time).
func TestCollectionsLockApart(t *testing.T) {
	ctx := context.Background()
	d := NewDatabase()
	if err := d.Set(ctx, "big", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	c, _ := d.lookup("big")
	c.mu.Lock() // as a long scan (or a stuck writer) of "big" would
	done := make(chan error, 1)
	go func() {
		_, err := d.Put(ctx, "other", "k", []byte("v"), providers.Write{})
		if err == nil {
			_, err = d.Get(ctx, "other", "k")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to another collection waited for the locked collection")
	}
	c.mu.Unlock()
}

func fill(t testing.TB, d *Database, coll string, n, size int) {
	t.Helper()
	v := bytes.Repeat([]byte("x"), size)
	for i := range n {
		if err := d.Set(context.Background(), coll, fmt.Sprintf("k%05d", i), v); err != nil {
			t.Fatal(err)
		}
	}
}

// A scan stops at its context's end, between chunks.
func TestScanHonoursContext(t *testing.T) {
	d := NewDatabase()
	fill(t, d, "big", 2*queryChunk, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Query(ctx, "big", providers.Query{Filter: "never"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Query with a cancelled context: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := d.Query(ctx, "big", providers.Query{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Query past its deadline: %v, want context.DeadlineExceeded", err)
	}
}

// MaxBytes ends a page before the item that would pass it, always with at
// least one item, and the cursors walk everything once.
func TestPageBytes(t *testing.T) {
	d := NewDatabase()
	fill(t, d, "c", 40, 1000) // entries of 1,006 bytes
	seen := providertest.WalkKeys(t, d, "c", providers.Query{Limit: 1000, MaxBytes: 5000}, 100, func(_ int, p providers.Page) {
		if len(p.Items) == 0 || len(p.Items) > 4 {
			t.Fatalf("page of %d items of 1,006 bytes under MaxBytes 5000, want 1 to 4", len(p.Items))
		}
	})
	if len(seen) != 40 {
		t.Fatalf("walked %d keys, want 40", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", k, n)
		}
	}
	// One item bigger than the bound still comes, alone.
	if err := d.Set(context.Background(), "huge", "a", bytes.Repeat([]byte("y"), 9000)); err != nil {
		t.Fatal(err)
	}
	if err := d.Set(context.Background(), "huge", "b", []byte("z")); err != nil {
		t.Fatal(err)
	}
	p, err := d.Query(context.Background(), "huge", providers.Query{MaxBytes: 5000})
	if err != nil || len(p.Items) != 1 || p.NextCursor == "" {
		t.Fatalf("page over an item bigger than MaxBytes: %d items, cursor %q, %v", len(p.Items), p.NextCursor, err)
	}
}

// Past memory.capacity writes fail with ErrFull and nothing else is lost;
// deleting, overwriting with less, and expiry make room again.
func TestCapacity(t *testing.T) {
	ctx := context.Background()
	d := NewDatabase()
	d.SetCapacity(10_000)
	v := bytes.Repeat([]byte("v"), 1000)
	var stored []string
	var full error
	for i := range 100 {
		k := fmt.Sprintf("k%02d", i)
		if full = d.Set(ctx, "c", k, v); full != nil {
			break
		}
		stored = append(stored, k)
	}
	if !errors.Is(full, providers.ErrFull) || len(stored) == 0 || len(stored) >= 10 {
		t.Fatalf("after %d writes of 1 KB into 10 KB: %v; want ErrFull before the tenth", len(stored), full)
	}
	if d.Used() > 10_000 {
		t.Fatalf("used %d bytes of 10,000", d.Used())
	}
	for _, k := range stored {
		if got, err := d.Get(ctx, "c", k); err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s after the database filled up: %v", k, err)
		}
	}
	// A batch that does not fit writes nothing.
	_, err := d.Apply(ctx, []providers.BatchOp{{Collection: "c", Key: "new1", Value: v}, {Collection: "c", Key: "new2", Value: v}})
	if !errors.Is(err, providers.ErrFull) {
		t.Fatalf("a batch past the capacity: %v", err)
	}
	if _, err := d.Get(ctx, "c", "new1"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatal("a batch refused for capacity wrote")
	}
	if _, err := d.Delete(ctx, "c", stored[0]); err != nil {
		t.Fatal(err)
	}
	if err := d.Set(ctx, "c", "after-delete", v); err != nil {
		t.Fatalf("a write after a delete made room: %v", err)
	}
	if err := d.Set(ctx, "c", stored[1], []byte("small")); err != nil {
		t.Fatalf("overwriting with a smaller value: %v", err)
	}
	// Expired entries make room even before a sweep.
	for _, k := range stored[2:] {
		if _, err := d.Put(ctx, "c", k, v, providers.Write{TTL: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if err := d.Set(ctx, "c", "after-expiry", bytes.Repeat([]byte("w"), 3000)); err != nil {
		t.Fatalf("a write once entries expired: %v", err)
	}
}

// BenchmarkPutDuringScans reports the latency of writes to one collection
// while four scans walk a 64 MiB collection.
func BenchmarkPutDuringScans(b *testing.B) {
	d := NewDatabase()
	fill(b, d, "big", 64, 1<<20)
	stop := harness.Repeat(4, 0, func(int) bool {
		_, _ = d.Query(context.Background(), "big", providers.Query{Filter: "never"})
		return true
	})
	var worst time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		_ = d.Set(context.Background(), "other", fmt.Sprint(i%100), []byte("v"))
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}
