package redis

import (
	"bufio"
	"context"
	"fmt"
	"net"
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
		err := s.Ping(ctx).Err()
		if msg, refused := authRefusal(err); refused {
			_ = c.close()
			return nil, providers.Invalid("redis+sentinel: sentinel %s refused the credentials (%s): check redis.sentinel_password and redis.sentinel_username (the URL's credentials are the master's)", c.sentinelAddrs[i], msg)
		}
		if msg := c.plainText(err); msg != "" {
			_ = c.close()
			return nil, providers.Invalid("redis: %s", msg)
		}
	}
	err := c.client.Process(ctx, goredis.NewStatusCmd(ctx, "ping"))
	if msg, refused := authRefusal(err); refused {
		_ = c.close()
		return nil, providers.Invalid("redis: %s refused the credentials (%s): check the password (redis.password, NAVIUS_REDIS_PASSWORD or the URL's) and the user (redis.username)", c.hosts, msg)
	}
	if msg := c.plainText(err); msg != "" {
		_ = c.close()
		return nil, providers.Invalid("redis: %s", msg)
	}
	return c, nil
}

// plainText explains a TLS connection that failed: when an address of the
// URL answers plain-text Redis, navius was told to speak TLS (rediss://,
// database.tls.*) to a server that speaks none, and its handshake gets no
// answer. It returns the explanation, or "".
func (c *conn) plainText(err error) string {
	if err == nil || len(c.tlsAddrs) == 0 {
		return ""
	}
	for _, a := range c.tlsAddrs {
		if answersPlain(a) {
			return fmt.Sprintf("%s answers plain-text Redis, not TLS: use redis:// (and no database.tls options), or turn TLS on in that server", a)
		}
	}
	return ""
}

// answersPlain reports whether addr answers PING as plain-text Redis (or
// asks for a password, which only plain text can tell).
func answersPlain(addr string) bool {
	nc, err := net.DialTimeout("tcp", addr, pingTimeout)
	if err != nil {
		return false
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(pingTimeout))
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, _ := bufio.NewReader(nc).ReadString('\n')
	return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
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
