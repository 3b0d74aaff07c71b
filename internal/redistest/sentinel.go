package redistest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
)

// MasterName is the name the test sentinels monitor.
const MasterName = "navius-test"

// DownAfter is the test sentinels' down-after-milliseconds: a master that
// does not answer for it is subjectively down, and a replica takes over
// about a second later.
const DownAfter = time.Second

// Sentinel is a running Sentinel setup: a master, two replicas and three
// sentinels (redis-server --sentinel) monitoring it with quorum 2.
type Sentinel struct {
	// Data are the master (first, at the start) and its replicas.
	Data      []*Server
	Sentinels []*Server
	t         testing.TB
}

// SentinelOption changes the setup StartSentinel and LaunchSentinel start.
type SentinelOption func(*sentinelConfig)

type sentinelConfig struct{ password string }

// SentinelPassword makes the sentinels require password (their
// requirepass, which they also use with each other): a client sets it as
// redis.sentinel_password. The data nodes ask for none.
func SentinelPassword(password string) SentinelOption {
	return func(c *sentinelConfig) { c.password = password }
}

// StartSentinel starts the setup on free loopback ports and waits until
// every sentinel knows both replicas and the other two sentinels, and the
// replicas are in sync. Everything stops when the test ends.
func StartSentinel(t testing.TB, opts ...SentinelOption) *Sentinel {
	t.Helper()
	s, err := LaunchSentinel(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	tie(t, s.Close, s.servers()...)
	return s
}

// LaunchSentinel is StartSentinel with the servers' files under dir; the
// caller must Close it.
func LaunchSentinel(dir string, opts ...SentinelOption) (s *Sentinel, err error) {
	var cfg sentinelConfig
	for _, o := range opts {
		o(&cfg)
	}
	s = &Sentinel{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	master, err := Launch(filepath.Join(dir, "data-0"), haArgs...)
	if err != nil {
		return s, err
	}
	s.Data = []*Server{master}
	for i := range 2 {
		r, err := Launch(filepath.Join(dir, fmt.Sprintf("data-%d", i+1)), append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}, haArgs...)...)
		if err != nil {
			return s, err
		}
		s.Data = append(s.Data, r)
	}
	for i := range 3 {
		conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 2\n", MasterName, master.Port, MasterName, DownAfter.Milliseconds(), MasterName, MasterName)
		if cfg.password != "" {
			conf += fmt.Sprintf("requirepass %q\n", cfg.password)
		}
		port, err := harness.FreePort()
		if err != nil {
			return s, err
		}
		x, err := launchOn(filepath.Join(dir, fmt.Sprintf("sentinel-%d", i)), port, conf, "--sentinel")
		if err != nil {
			return s, err
		}
		x.password = cfg.password
		s.Sentinels = append(s.Sentinels, x)
	}
	return s, s.waitHealthy()
}

// Close stops every server of the setup.
func (s *Sentinel) Close() {
	for _, x := range s.servers() {
		x.Close()
	}
}

// servers are the data servers and the sentinels.
func (s *Sentinel) servers() []*Server {
	return append(slices.Clone(s.Data), s.Sentinels...)
}

// URL is the setup's redis+sentinel:// URL for database db.
func (s *Sentinel) URL(db int) string {
	var addrs []string
	for _, x := range s.Sentinels {
		addrs = append(addrs, x.Addr)
	}
	return fmt.Sprintf("redis+sentinel://%s/%d?master=%s", strings.Join(addrs, ","), db, MasterName)
}

// Master is the data node the sentinels name as master (the first running
// sentinel that answers decides).
func (s *Sentinel) Master() *Server {
	s.t.Helper()
	if m := s.masterQuiet(); m != nil {
		return m
	}
	s.t.Fatal("no sentinel names a master")
	return nil
}

func (s *Sentinel) masterQuiet() *Server {
	for _, x := range s.Sentinels {
		if !x.Running() {
			continue
		}
		addr, err := x.Client().Do(context.Background(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName).StringSlice()
		if err != nil || len(addr) != 2 {
			continue
		}
		if d := byAddr(s.Data, net.JoinHostPort(addr[0], addr[1])); d != nil {
			return d
		}
	}
	return nil
}

// WaitHealthy waits until every running sentinel names the same running
// master and sees the other running data nodes as its replicas and the
// other running sentinels, and every replica is in sync.
func (s *Sentinel) WaitHealthy() {
	s.t.Helper()
	mustWait(s.t, s.waitHealthy)
}

func (s *Sentinel) waitHealthy() error {
	return waitFor("the Sentinel setup", s.unhealthy)
}

func (s *Sentinel) unhealthy() string {
	ctx := context.Background()
	m := s.masterQuiet()
	if m == nil || !m.Running() {
		return "no running master named"
	}
	sentinels := 0
	for _, x := range s.Sentinels {
		if x.Running() {
			sentinels++
		}
	}
	for _, x := range s.Sentinels {
		if !x.Running() {
			continue
		}
		info, err := x.Client().Do(ctx, "SENTINEL", "MASTER", MasterName).Slice()
		if err != nil {
			return fmt.Sprintf("sentinel %s: %v", x.Addr, err)
		}
		f := map[string]string{}
		for i := 0; i+1 < len(info); i += 2 {
			f[fmt.Sprint(info[i])] = fmt.Sprint(info[i+1])
		}
		if net.JoinHostPort(f["ip"], f["port"]) != m.Addr || strings.Contains(f["flags"], "down") {
			return fmt.Sprintf("sentinel %s sees master %s:%s (%s)", x.Addr, f["ip"], f["port"], f["flags"])
		}
		if f["num-other-sentinels"] != strconv.Itoa(sentinels-1) {
			return fmt.Sprintf("sentinel %s knows %s other sentinels", x.Addr, f["num-other-sentinels"])
		}
		replicas, err := x.Client().Do(ctx, "SENTINEL", "REPLICAS", MasterName).Slice()
		if err != nil {
			return fmt.Sprintf("sentinel %s: %v", x.Addr, err)
		}
		healthy := map[string]bool{}
		for _, r := range replicas {
			fields, _ := r.([]any)
			g := map[string]string{}
			for i := 0; i+1 < len(fields); i += 2 {
				g[fmt.Sprint(fields[i])] = fmt.Sprint(fields[i+1])
			}
			if !strings.Contains(g["flags"], "down") && !strings.Contains(g["flags"], "disconnected") {
				healthy[net.JoinHostPort(g["ip"], g["port"])] = true
			}
		}
		for _, d := range s.Data {
			if d != m && d.Running() && !healthy[d.Addr] {
				return fmt.Sprintf("sentinel %s does not see %s as a healthy replica", x.Addr, d.Addr)
			}
		}
	}
	for _, d := range s.Data {
		if d == m || !d.Running() {
			continue
		}
		repl, err := d.Client().Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Sprintf("%s: %v", d.Addr, err)
		}
		if !strings.Contains(repl, "master_port:"+strconv.Itoa(m.Port)) || !strings.Contains(repl, "master_link_status:up") {
			return d.Addr + " is not yet a replica in sync with " + m.Addr
		}
	}
	// Every replica acknowledges a write: one that has just synced may not
	// yet.
	replicas := 0
	for _, d := range s.Data {
		if d != m && d.Running() {
			replicas++
		}
	}
	if err := m.Client().Set(ctx, "redistest:probe", "1", 0).Err(); err != nil {
		return fmt.Sprintf("%s: %v", m.Addr, err)
	}
	if n, err := m.Client().Wait(ctx, replicas, 200*time.Millisecond).Result(); err != nil || int(n) < replicas {
		return fmt.Sprintf("%d of the %d replicas of %s acknowledge writes", n, replicas, m.Addr)
	}
	return ""
}

// WaitFailover waits until the sentinels name a master other than old and
// returns how long after since that was seen; then it waits until the
// remaining replica follows the new master.
func (s *Sentinel) WaitFailover(old *Server, since time.Time) time.Duration {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := s.masterQuiet(); m != nil && m != old {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no replica took over from %s within 30s", old.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(since)
	s.WaitHealthy()
	return took
}

// Rejoin restarts a killed data node as a replica of the current master
// (as an operator would: the sentinels would also turn it into one, but
// only some ten seconds after it returns). It waits until the setup is
// healthy again.
func (s *Sentinel) Rejoin(d *Server) {
	s.t.Helper()
	m := s.Master()
	if i := slices.Index(d.Args, "--replicaof"); i >= 0 {
		d.Args = slices.Delete(slices.Clone(d.Args), i, i+3)
	}
	d.Args = append(d.Args, "--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
	d.Restart()
	s.WaitHealthy()
}
