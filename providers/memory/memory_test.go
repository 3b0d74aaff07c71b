package memory_test

import (
	"context"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
	"github.com/navius-dev/navius/providers/providertest"
)

func TestDatabaseConformance(t *testing.T) {
	providertest.TestDatabase(t, func(t *testing.T) providers.Database {
		db, err := memory.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: "memory://"})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestCacheConformance(t *testing.T) {
	providertest.TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
		cfg.URL = "memory://"
		c, err := memory.OpenCache(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"memory://host/path", "memoryx://", "redis://"} {
		if _, err := memory.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: u}); err == nil {
			t.Errorf("OpenDatabase(%q) succeeded", u)
		}
	}
}
