package intree

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
	"github.com/navius-dev/navius/providers/memory"
	"github.com/navius-dev/navius/providers/postgres"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/redis"
)

// As the gate files (providers_<feature>.go) register them.
func init() {
	providers.RegisterDatabase("memory", []string{"memory"}, memory.OpenDatabase)
	providers.RegisterDatabase("bolt", []string{"bolt"}, bolt.OpenDatabase)
	providers.RegisterDatabase("postgres", []string{"postgres", "postgresql"}, postgres.OpenDatabase)
	providers.RegisterDatabase("redis", redis.Schemes, redis.OpenDatabase)
}

var fresh atomic.Int64

// name is a table or key prefix no other instance of this process uses.
func name(prefix string) string { return fmt.Sprintf("%s%d", prefix, fresh.Add(1)) }

func TestMemory(t *testing.T) {
	t.Parallel()
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{Volatile: true, Config: func(*testing.T, string) providers.DatabaseConfig {
		return providers.DatabaseConfig{URL: "memory://"}
	}})
}

func TestBolt(t *testing.T) {
	t.Parallel()
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{Durable: true, Config: func(_ *testing.T, dir string) providers.DatabaseConfig {
		return providers.DatabaseConfig{URL: "bolt://" + filepath.Join(dir, "navius.db")}
	}})
}

// PostgreSQL and Redis keep the data on their server: the writer's crash
// is the client's, and what it saw acknowledged must be on the server.
func TestPostgres(t *testing.T) {
	t.Parallel()
	srv := pgtest.Start(t)
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{Durable: true, Config: func(*testing.T, string) providers.DatabaseConfig {
		return providers.DatabaseConfig{URL: srv.URL("postgres"), Settings: providers.Settings{"postgres.table": name("intree_")}}
	}})
}

func TestRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	providertest.RunDatabaseTests(t, providertest.DatabaseHarness{Durable: true, Config: func(*testing.T, string) providers.DatabaseConfig {
		return providers.DatabaseConfig{URL: srv.URL(0), MaxConnections: 8, Settings: providers.Settings{"redis.key_prefix": name("t")}}
	}})
}
