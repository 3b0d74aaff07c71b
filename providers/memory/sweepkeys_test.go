package memory

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
)

// TestSweepKeysNamesWhatMadeRoom: expired entries a write removed to make
// room are named by the next SweepKeys (for watchers' expire events),
// except one written again since; then the sweep's own.
func TestSweepKeysNamesWhatMadeRoom(t *testing.T) {
	ctx := context.Background()
	d := NewDatabase()
	d.SetCapacity(10_000)
	v := bytes.Repeat([]byte("v"), 1000)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if _, err := d.Put(ctx, "c", k, v, providers.Write{TTL: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if err := d.Set(ctx, "c", "big", bytes.Repeat([]byte("w"), 8000)); err != nil {
		t.Fatalf("a write once entries expired: %v", err)
	}
	if err := d.Set(ctx, "c", "a", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Put(ctx, "c", "late", []byte("x"), providers.Write{TTL: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	var named []string
	n, err := d.SweepKeys(ctx, 100, func(coll, key string) { named = append(named, coll+"/"+key) })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(named)
	if want := []string{"c/b", "c/c", "c/d", "c/e", "c/late"}; n != len(want) || !slices.Equal(named, want) {
		t.Fatalf("SweepKeys named %v (n %d), want %v", named, n, want)
	}
	if n, _ := d.SweepKeys(ctx, 100, func(coll, key string) { t.Errorf("named %s/%s twice", coll, key) }); n != 0 {
		t.Errorf("a second sweep removed %d", n)
	}
}
