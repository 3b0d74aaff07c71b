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

// TestCredentialsRefusedAtStart: credentials the server refuses stop the
// start with the fix (exit 2 in navius), for the database and the cache;
// an unreachable server does not (navius starts unready).
func TestCredentialsRefusedAtStart(t *testing.T) {
	ctx := context.Background()
	locked := redistest.Start(t, "--requirepass", "s3cret-pass")
	cases := []struct {
		url  string
		s    providers.Settings
		want string
	}{
		{"redis://:wrong-pass@" + locked.Addr + "/0", settings(), "WRONGPASS"},
		{"redis://" + locked.Addr + "/0", settings(), "NOAUTH"},
		{"redis://" + locked.Addr + "/0", settings("redis.username", "nobody", "redis.password", "s3cret-pass"), "WRONGPASS"},
	}
	for _, c := range cases {
		_, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: c.url, Settings: c.s})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "check the password") {
			t.Errorf("database %s: %v, want ErrInvalid with %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-pass") || err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows a password: %v", err)
		}
		_, err = redis.OpenCache(ctx, providers.CacheConfig{URL: c.url, Settings: c.s})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cache %s: %v, want ErrInvalid with %q", c.url, err, c.want)
		}
	}
	// Nobody listens there: no error at start.
	down := redistest.Start(t)
	addr := down.Addr
	down.Stop()
	db, err := redis.OpenDatabase(ctx, providers.DatabaseConfig{URL: "redis://:any-pass@" + addr + "/0", Settings: settings()})
	if err != nil {
		t.Fatalf("an unreachable server refused the start: %v", err)
	}
	db.Close()
}
