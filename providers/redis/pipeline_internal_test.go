package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers/providertest"
)

// Concurrent calls through the shared pipeline each get their own replies,
// a missing field its redis.Nil, and a call whose context ended is not sent.
func TestPipelineMergesCalls(t *testing.T) {
	srv := redistest.Start(t)
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaintNotificationsConfig: noMaintNotifications()})
	defer c.Close()
	ctx := context.Background()
	for i := range 100 {
		if err := c.HSet(ctx, "h", fmt.Sprint(i), fmt.Sprint("v", i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	p := newPipeline(c, 2)
	err := providertest.Concurrently(64, 200, func(g, i int) error {
		k := (g*7 + i) % 120 // 100 to 119 are missing
		a := goredis.NewStringCmd(ctx, "hget", "h", fmt.Sprint(k))
		b := goredis.NewStringCmd(ctx, "hget", "h", fmt.Sprint((k+1)%100))
		err := p.do(ctx, a, b)
		switch {
		case k >= 100 && !errors.Is(err, goredis.Nil):
			return fmt.Errorf("missing field %d: err %v, want redis.Nil", k, err)
		case k < 100 && (err != nil || a.Val() != fmt.Sprint("v", k)):
			return fmt.Errorf("field %d: %q, %v", k, a.Val(), err)
		case b.Val() != fmt.Sprint("v", (k+1)%100):
			return fmt.Errorf("second command of field %d: %q", k, b.Val())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.do(cctx, goredis.NewStringCmd(cctx, "hget", "h", "1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("a call with a cancelled context: %v", err)
	}
	p.close()
	if err := p.do(ctx, goredis.NewStringCmd(ctx, "hget", "h", "1")); !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("a call after close: %v", err)
	}
}
