package redis

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/navius-dev/navius/providers"
)

// mode is the Redis topology a URL names.
type mode int

const (
	single   mode = iota // redis://, rediss://: one node
	sentinel             // redis+sentinel://: a master found through Sentinel
	cluster              // redis+cluster://: a Redis Cluster
)

func (m mode) String() string {
	return [...]string{"single-node", "Sentinel", "Cluster"}[m]
}

// Schemes are the URL schemes the provider opens.
var Schemes = []string{"redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"}

// usage is the URL form of each mode, for error messages.
var usage = [...]string{
	single:   "redis://[user:password@]host:6379/0 (rediss:// for TLS)",
	sentinel: "redis+sentinel://[user:password@]host:26379[,host:26379...][/db]?master=NAME (rediss+sentinel:// for TLS)",
	cluster:  "redis+cluster://[user:password@]host:6379[,host:6379...] (rediss+cluster:// for TLS)",
}

// defaultPort is the port of a host written without one.
var defaultPort = [...]string{single: "6379", sentinel: "26379", cluster: "6379"}

// target is a parsed multi-host URL: the sentinels or the cluster's seed
// nodes, the data nodes' credentials, and for Sentinel the master's name
// and database.
type target struct {
	mode     mode
	tls      bool
	addrs    []string
	user     string
	password string
	db       int // -1: none in the URL
	master   string
}

// modeOf tells the topology and TLS from a URL's scheme.
func modeOf(rawURL string) (m mode, tls, ok bool) {
	scheme, _, found := strings.Cut(rawURL, "://")
	if !found {
		return 0, false, false
	}
	scheme = strings.ToLower(scheme)
	base, kind, _ := strings.Cut(scheme, "+")
	if base != "redis" && base != "rediss" {
		return 0, false, false
	}
	switch kind {
	case "":
		m = single
	case "sentinel":
		m = sentinel
	case "cluster":
		m = cluster
	default:
		return 0, false, false
	}
	return m, base == "rediss", true
}

// parseHosts parses a redis+sentinel:// or redis+cluster:// URL (and their
// rediss+ forms) the way libpq parses its multi-host URLs: net/url cannot,
// since the authority is a comma-separated list of host[:port]. User and
// password end at the last "@"; after it come the hosts, an optional
// database path (Sentinel only) and the query (Sentinel's master=NAME).
// Errors name the problem and the form to use; they never show the
// password, and they quote only what follows the last "@".
func parseHosts(rawURL string) (*target, error) {
	m, tls, ok := modeOf(rawURL)
	if !ok || m == single {
		return nil, providers.Invalid("bad Redis URL %q: use %s", redact(rawURL), usage[sentinel])
	}
	t := &target{mode: m, tls: tls, db: -1}
	bad := func(format string, args ...any) error {
		return providers.Invalid("bad Redis %s URL %q: %s; use %s", m, redact(rawURL), fmt.Sprintf(format, args...), usage[m])
	}
	_, rest, _ := strings.Cut(rawURL, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		user, password, _ := strings.Cut(userinfo, ":")
		var err1, err2 error
		t.user, err1 = url.PathUnescape(user)
		t.password, err2 = url.PathUnescape(password)
		if err1 != nil || err2 != nil {
			return nil, bad("the user or password is not valid percent-encoding (write %%40 for @, %%3A for :)")
		}
	}
	if strings.Contains(rest, "#") {
		return nil, bad("a #fragment has no meaning here")
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return nil, bad("no host: list at least one")
	}
	for _, h := range strings.Split(hosts, ",") {
		addr, err := hostPort(h, defaultPort[m])
		if err != "" {
			return nil, bad("%s", err)
		}
		t.addrs = append(t.addrs, addr)
	}
	switch {
	case path == "":
	case m == cluster:
		return nil, bad("a cluster URL takes no database number (/%s): Redis Cluster has database 0 only, remove it", path)
	default:
		db, err := strconv.Atoi(path)
		if err != nil || db < 0 {
			return nil, bad("database %q is not a number: write /0, /1, ...", path)
		}
		t.db = db
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, bad("the query is malformed: %v", err)
	}
	for k, v := range q {
		switch {
		case k == "master" && m == sentinel:
			t.master = v[len(v)-1]
		case k == "master":
			return nil, bad("master= belongs to redis+sentinel:// URLs; a cluster URL lists seed nodes only")
		default:
			return nil, bad("unknown parameter %q: other settings are redis.* options (e.g. NAVIUS_REDIS_DIAL_TIMEOUT)", k)
		}
	}
	if m == sentinel && t.master == "" {
		return nil, bad("no master name: add ?master=NAME, the name the sentinels monitor")
	}
	return t, nil
}

// hostPort checks one host of a list and adds the default port; it returns
// what is wrong with it otherwise.
func hostPort(h, port string) (string, string) {
	host := h
	switch {
	case h == "":
		return "", "an empty host in the list (a stray comma?)"
	case strings.HasPrefix(h, "["): // [v6] or [v6]:port
		end := strings.Index(h, "]")
		if end < 0 {
			return "", fmt.Sprintf("host %q: an IPv6 address needs its closing bracket", h)
		}
		host = h[1:end]
		switch after := h[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
		default:
			return "", fmt.Sprintf("host %q: write [address]:port", h)
		}
	case strings.Count(h, ":") == 1:
		host, port, _ = strings.Cut(h, ":")
	case strings.Contains(h, ":"):
		return "", fmt.Sprintf("host %q: write an IPv6 address in brackets, e.g. [::1]:6379", h)
	}
	if host == "" {
		return "", fmt.Sprintf("host %q has no name", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Sprintf("host %q has an invalid port %q", h, port)
	}
	return net.JoinHostPort(host, port), ""
}

// redact hides the password of a URL the way parseHosts reads it: what lies
// between the first ":" of the user information and the last "@".
func redact(rawURL string) string {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return providers.Redact(rawURL)
	}
	rest := rawURL[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return providers.Redact(rawURL) // a ?password= parameter
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return providers.Redact(rawURL)
	}
	return providers.Redact(rawURL[:i+3] + user + ":xxxxx" + rest[at:])
}
