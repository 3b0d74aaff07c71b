package redis

import (
	"context"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// authenticated makes one round trip at start, so that credentials the
// server refuses (WRONGPASS, NOAUTH, a password it does not expect) stop
// navius with the fix, as PostgreSQL's do, instead of leaving it unready
// forever. A server that cannot be reached is no error here: navius starts
// unready and connects once it answers. On a refusal c is closed.
func (c *conn) authenticated(ctx context.Context, dialTimeout time.Duration) (*conn, error) {
	if dialTimeout <= 0 {
		dialTimeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout+time.Second)
	defer cancel()
	for i, s := range c.sentinels {
		if msg, refused := authRefusal(s.Ping(ctx).Err()); refused {
			_ = c.close()
			return nil, providers.Invalid("redis+sentinel: sentinel %s refused the credentials (%s): check redis.sentinel_password and redis.sentinel_username (the URL's credentials are the master's)", c.sentinelAddrs[i], msg)
		}
	}
	if msg, refused := authRefusal(c.client.Process(ctx, goredis.NewStatusCmd(ctx, "ping"))); refused {
		_ = c.close()
		return nil, providers.Invalid("redis: %s refused the credentials (%s): check the password (redis.password, NAVIUS_REDIS_PASSWORD or the URL's) and the user (redis.username)", c.hosts, msg)
	}
	return c, nil
}

// authRefusal tells an authentication refusal from other failures, with
// the server's words (which never hold the password).
func authRefusal(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	msg := err.Error()
	for _, sign := range []string{"WRONGPASS", "NOAUTH", "invalid password", "without any password configured", "invalid username-password"} {
		if strings.Contains(msg, sign) {
			return strings.TrimSuffix(oneLine(msg), "."), true
		}
	}
	return "", false
}

// oneLine joins a message's lines.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
