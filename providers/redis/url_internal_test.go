package redis

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

func TestParseHosts(t *testing.T) {
	for _, c := range []struct {
		url  string
		want target
	}{
		{"redis+cluster://a:7000,b:7001,c", target{mode: cluster, addrs: []string{"a:7000", "b:7001", "c:6379"}, db: -1}},
		{"rediss+cluster://u:p%40ss@[::1]:7000,[fe80::1]/", target{mode: cluster, tls: true, addrs: []string{"[::1]:7000", "[fe80::1]:6379"}, user: "u", password: "p@ss", db: -1}},
		{"redis+sentinel://:s3cret@s1,s2:26380/2?master=mymaster", target{mode: sentinel, addrs: []string{"s1:26379", "s2:26380"}, password: "s3cret", db: 2, master: "mymaster"}},
		{"REDISS+SENTINEL://s1:26379?master=a%2Fb", target{mode: sentinel, tls: true, addrs: []string{"s1:26379"}, db: -1, master: "a/b"}},
		// The password may hold "@", "/" and "?": it ends at the last "@".
		{"redis+cluster://:p/a?s@s@h:1", target{mode: cluster, addrs: []string{"h:1"}, password: "p/a?s@s", db: -1}},
	} {
		got, err := parseHosts(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if got.mode != c.want.mode || got.tls != c.want.tls || !slices.Equal(got.addrs, c.want.addrs) || got.user != c.want.user ||
			got.password != c.want.password || got.db != c.want.db || got.master != c.want.master {
			t.Errorf("%s = %+v, want %+v", c.url, *got, c.want)
		}
	}
}

// TestParseHostsErrors: each malformed form is a one-line ErrInvalid that
// names the problem and the form to use, and never shows the password.
func TestParseHostsErrors(t *testing.T) {
	for _, c := range []struct{ url, says string }{
		{"redis+cluster://", "no host"},
		{"redis+cluster://:pw@", "no host"},
		{"redis+cluster://a:1,,b:2", "empty host"},
		{"redis+cluster://a:1,b:99999", `invalid port "99999"`},
		{"redis+cluster://a:x", `invalid port "x"`},
		{"redis+cluster://::1:7000", "IPv6 address in brackets"},
		{"redis+cluster://[::1:7000", "closing bracket"},
		{"redis+cluster://[::1]x", "[address]:port"},
		{"redis+cluster://:70", "has no name"},
		{"redis+cluster://u:pw@a:1,b:2/0", "takes no database number"},
		{"redis+cluster://a:1?master=m", "master= belongs to redis+sentinel"},
		{"redis+cluster://a:1?dial_timeout=1s", `unknown parameter "dial_timeout"`},
		{"redis+sentinel://:pw@s1:26379,s2:26379", "no master name: add ?master=NAME"},
		{"redis+sentinel://s1/x?master=m", `database "x" is not a number`},
		{"redis+sentinel://s1?master=m#frag", "fragment"},
		{"redis+sentinel://:p%zz@s1?master=m", "percent-encoding"},
		{"redis+sentinel://s1?master=%zz", "query is malformed"},
	} {
		_, err := parseHosts(c.url)
		if !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.url, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.says) || !strings.Contains(msg, "; use redis+") || strings.Contains(msg, "\n") || strings.Contains(msg, "pw@") {
			t.Errorf("%s: %q; want one line saying %q and the form to use, without the password", c.url, msg, c.says)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"redis+cluster://u:pw@a:1,b:2":       "redis+cluster://u:xxxxx@a:1,b:2",
		"redis+cluster://:p/a@s@a:1":         "redis+cluster://:xxxxx@a:1",
		"redis+sentinel://user@a:1?master=m": "redis+sentinel://user@a:1?master=m",
		"redis+cluster://a:1,b:2":            "redis+cluster://a:1,b:2",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSchemeOfHostList: the registry finds the provider of a host-list URL
// that net/url cannot parse, and config validation accepts it.
func TestSchemeOfHostList(t *testing.T) {
	for _, u := range []string{"redis+cluster://a:1,b", "rediss+sentinel://[::1]:26379,b:26379/0?master=m"} {
		s, err := providers.Scheme(u)
		if err != nil || !slices.Contains(Schemes, s) {
			t.Errorf("Scheme(%q) = %q, %v", u, s, err)
		}
	}
	if _, err := providers.Scheme("redis://a:x/0"); err == nil {
		t.Error("a malformed one-host URL passed")
	}
}

func TestNodeTrouble(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{goredis.Nil, false},
		{context.Canceled, false},
		{replyError("NOSCRIPT No matching script"), false},
		{replyError("WRONGTYPE Operation against a key"), false},
		{replyError("MOVED 3999 127.0.0.1:6381"), true},
		{replyError("CLUSTERDOWN The cluster is down"), true},
		{replyError("READONLY You can't write against a read only replica."), true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{context.DeadlineExceeded, true},
	} {
		if got := nodeTrouble(c.err); got != c.want {
			t.Errorf("nodeTrouble(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// replyError is an error reply from Redis, as go-redis reports one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}
