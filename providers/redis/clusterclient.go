package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// clusterClient is a go-redis *ClusterClient reached only through
// closures, for the binary's size. navius carries text/template, whose
// reflective method calls make the linker keep every exported method of any
// type that can reach an interface value, also through the fields of one:
// *ClusterClient has some 600 (one per command go-redis knows), about
// 0.7 MB. Captured by closures, the client is out of reach of that rule,
// and only what is called here is linked. (*Client, the one-node and
// Sentinel client, has always been kept whole: the size of the feature
// before Cluster support.)
type clusterClient struct {
	process       func(ctx context.Context, cmd goredis.Cmder) error
	pipelined     func(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error)
	txPipelined   func(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error)
	subscribe     func(ctx context.Context, channels ...string) *goredis.PubSub
	close         func() error
	masterForKey  func(ctx context.Context, key string) (*goredis.Client, error)
	forEachMaster func(ctx context.Context, fn func(context.Context, *goredis.Client) error) error
	reloadState   func()
}

func newClusterClient(o *goredis.ClusterOptions) *clusterClient {
	cl := goredis.NewClusterClient(o)
	reload := func() { cl.ReloadState(context.Background()) }
	cl.AddHook(reloadOnFailure{reload})
	return &clusterClient{
		process: cl.Process, pipelined: cl.Pipelined, txPipelined: cl.TxPipelined,
		subscribe: cl.Subscribe, close: cl.Close,
		masterForKey: cl.MasterForKey, forEachMaster: cl.ForEachMaster, reloadState: reload,
	}
}

func (c *clusterClient) Process(ctx context.Context, cmd goredis.Cmder) error {
	return c.process(ctx, cmd)
}

func (c *clusterClient) Pipelined(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error) {
	return c.pipelined(ctx, fn)
}

func (c *clusterClient) TxPipelined(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error) {
	return c.txPipelined(ctx, fn)
}

func (c *clusterClient) Subscribe(ctx context.Context, channels ...string) *goredis.PubSub {
	return c.subscribe(ctx, channels...)
}

func (c *clusterClient) Close() error { return c.close() }

func (c *clusterClient) HGet(ctx context.Context, key, field string) *goredis.StringCmd {
	cmd := goredis.NewStringCmd(ctx, "hget", key, field)
	_ = c.process(ctx, cmd)
	return cmd
}

func (c *clusterClient) HScan(ctx context.Context, key string, cursor uint64, match string, count int64) *goredis.ScanCmd {
	args := []any{"hscan", key, cursor}
	if match != "" {
		args = append(args, "match", match)
	}
	if count > 0 {
		args = append(args, "count", count)
	}
	cmd := goredis.NewScanCmd(ctx, nil, args...)
	_ = c.process(ctx, cmd)
	return cmd
}

func (c *clusterClient) Get(ctx context.Context, key string) *goredis.StringCmd {
	cmd := goredis.NewStringCmd(ctx, "get", key)
	_ = c.process(ctx, cmd)
	return cmd
}

func (c *clusterClient) Set(ctx context.Context, key string, value any, expiration time.Duration) *goredis.StatusCmd {
	args := []any{"set", key, value}
	if expiration > 0 {
		args = append(args, "px", expiration.Milliseconds())
	}
	cmd := goredis.NewStatusCmd(ctx, args...)
	_ = c.process(ctx, cmd)
	return cmd
}

func (c *clusterClient) Del(ctx context.Context, keys ...string) *goredis.IntCmd {
	args := []any{"del"}
	for _, k := range keys {
		args = append(args, k)
	}
	cmd := goredis.NewIntCmd(ctx, args...)
	_ = c.process(ctx, cmd)
	return cmd
}

// clusterInfo is CLUSTER INFO from one node.
func (c *clusterClient) clusterInfo(ctx context.Context) (string, error) {
	cmd := goredis.NewStringCmd(ctx, "cluster", "info")
	_ = c.process(ctx, cmd)
	return cmd.Result()
}

// clusterSlots is CLUSTER SLOTS from one node.
func (c *clusterClient) clusterSlots(ctx context.Context) ([]goredis.ClusterSlot, error) {
	cmd := goredis.NewClusterSlotsCmd(ctx, "cluster", "slots")
	_ = c.process(ctx, cmd)
	return cmd.Result()
}
