package redis_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/redis"
)

// TestTopologyMismatch: a multi-host URL that names the wrong kind of node,
// or settings a topology cannot honour, fail at open with a one-line
// ErrInvalid that says how to fix it. Nodes that cannot be reached are not
// such an error: navius starts and connects once they answer.
func TestTopologyMismatch(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	for _, c := range []struct {
		url  string
		kv   []string
		says string
	}{
		{"redis+cluster://" + srv.Addr, nil, "is not a cluster node (it runs without cluster-enabled): list the cluster's nodes, or use redis://" + srv.Addr},
		{"redis+sentinel://" + srv.Addr + "?master=m", nil, "is not a sentinel"},
		{"redis+cluster://" + srv.Addr, []string{"redis.db", "2"}, "Redis Cluster has database 0 only"},
		{"redis+cluster://" + srv.Addr, []string{"redis.key_prefix", "app{1}"}, "choose a prefix without { or }"},
		{srv.URL(0), []string{"redis.min_replicas", "-1"}, "redis.min_replicas is -1"},
		{"memcached://" + srv.Addr, nil, "use redis://"},
	} {
		_, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: c.url, Settings: settings(c.kv...)})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: %v; want a one-line ErrInvalid saying %q", c.url, c.kv, err, c.says)
		}
	}
	// Unreachable seeds and sentinels: the provider opens, and is not ready.
	for _, u := range []string{"redis+cluster://127.0.0.1:1,127.0.0.1:2", "redis+sentinel://127.0.0.1:1?master=m"} {
		db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: u, Settings: settings()})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if err := db.Ping(ctx); !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("%s: Ping = %v, want ErrUnavailable", u, err)
		}
		db.Close()
	}
}
