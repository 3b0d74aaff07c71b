package redistest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/redisslot"
)

// NodeTimeout is the test cluster's cluster-node-timeout: a master that
// stops answering is marked failed after it and a replica takes over
// about a second later.
const NodeTimeout = time.Second

// Cluster is a running Redis Cluster of three masters with one replica each
// (six redis-server processes), made with redis-cli --cluster create.
type Cluster struct {
	Nodes []*Server
	t     testing.TB
}

// haArgs make a replica ready to take over soon after it starts: its full
// sync begins without waiting for other replicas to join it.
var haArgs = []string{"--repl-diskless-sync-delay", "0"}

// StartCluster starts six cluster-enabled nodes on free loopback ports
// (each port and its bus port, port+10000, free), joins them with
// redis-cli --cluster create ... --cluster-replicas 1 and waits until every
// node reports the cluster ok and every replica is in sync. The nodes stop
// when the test ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := LaunchCluster(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	tie(t, c.Close, c.Nodes...)
	return c
}

// LaunchCluster is StartCluster with the nodes' files under dir; the
// caller must Close it.
func LaunchCluster(dir string) (c *Cluster, err error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, errors.New("redis-cli is not on PATH: install it (apt-get install -y redis-tools; make test and scripts/deps.sh do)")
	}
	c = &Cluster{}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	var addrs []string
	for i := range 6 {
		// A replica may take over however long ago it last heard from its
		// master (validity factor 0), as a crash test needs.
		args := append([]string{"--cluster-enabled", "yes", "--cluster-node-timeout", strconv.Itoa(int(NodeTimeout.Milliseconds())),
			"--cluster-replica-validity-factor", "0"}, haArgs...)
		port, err := harness.FreePortPair(10000)
		if err != nil {
			return c, err
		}
		s, err := launchOn(filepath.Join(dir, fmt.Sprintf("node-%d", i)), port, "", args...)
		if err != nil {
			return c, err
		}
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return c, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	return c, c.waitHealthy()
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, s := range c.Nodes {
		s.Close()
	}
}

// URL is the cluster's redis+cluster:// URL with every node as a seed.
func (c *Cluster) URL() string {
	var addrs []string
	for _, s := range c.Nodes {
		addrs = append(addrs, s.Addr)
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// Masters are the nodes that serve slots, as a running node reports them.
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	var out []*Server
	for _, r := range c.slots() {
		if m := c.byAddr(r.Nodes[0].Addr); m != nil && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// MasterOf is the running node that serves key's slot.
func (c *Cluster) MasterOf(key string) *Server {
	c.t.Helper()
	slot := int(redisslot.Of(key))
	for _, r := range c.slots() {
		if slot >= int(r.Start) && slot <= int(r.End) && len(r.Nodes) > 0 {
			return c.byAddr(r.Nodes[0].Addr)
		}
	}
	c.t.Fatalf("no node serves the slot of %q", key)
	return nil
}

// slots is the slot map as the first running node that answers reports it.
func (c *Cluster) slots() []goredis.ClusterSlot {
	c.t.Helper()
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		if slots, err := s.Client().ClusterSlots(context.Background()).Result(); err == nil {
			return slots
		}
	}
	c.t.Fatal("no cluster node answers CLUSTER SLOTS")
	return nil
}

func (c *Cluster) byAddr(addr string) *Server { return byAddr(c.Nodes, addr) }

// byAddr is the server of servers listening on addr, or nil.
func byAddr(servers []*Server, addr string) *Server {
	for _, s := range servers {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// agrees on three masters covering all slots, and every replica's link to
// its master is up.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	mustWait(c.t, c.waitHealthy)
}

func (c *Cluster) waitHealthy() error { return waitFor("the cluster", c.unhealthy) }

// mustWait fails the test when wait does.
func mustWait(t testing.TB, wait func() error) {
	t.Helper()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits up to 30s until unhealthy says nothing is wrong with what.
func waitFor(what string, unhealthy func() string) error {
	deadline := time.Now().Add(30 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		if why = unhealthy(); why == "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not become healthy within 30s: %s", what, why)
}

func (c *Cluster) unhealthy() string {
	ctx := context.Background()
	var view string // the masters with slots, as the first node sees them
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		cl := s.Client()
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return s.Addr + " reports cluster_state not ok"
		}
		nodes, err := cl.ClusterNodes(ctx).Result()
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr, err)
		}
		var masters []string
		for line := range strings.Lines(nodes) {
			f := strings.Fields(line)
			if len(f) >= 9 && strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail") {
				masters = append(masters, f[1])
			}
		}
		slices.Sort(masters)
		if len(masters) != 3 {
			return fmt.Sprintf("%s sees %d masters with slots", s.Addr, len(masters))
		}
		if v := strings.Join(masters, " "); view == "" {
			view = v
		} else if v != view {
			return fmt.Sprintf("%s sees masters %s, another node %s", s.Addr, v, view)
		}
		repl, err := cl.Info(ctx, "replication").Result()
		if err != nil {
			return fmt.Sprintf("%s: %v", s.Addr, err)
		}
		isMaster := strings.Contains(view, s.Addr+"@")
		if isMaster != strings.Contains(repl, "role:master") {
			return s.Addr + " has not yet taken its role"
		}
		if !isMaster && !strings.Contains(repl, "master_link_status:up") {
			return s.Addr + " is a replica not yet in sync"
		}
	}
	// Every master's replica acknowledges a write: a replica that has just
	// synced may not yet.
	slots, err := c.Nodes[c.firstRunning()].Client().ClusterSlots(ctx).Result()
	if err != nil {
		return err.Error()
	}
	for _, r := range slots {
		if len(r.Nodes) < 2 {
			return fmt.Sprintf("slots %d-%d have no replica", r.Start, r.End)
		}
		m := c.byAddr(r.Nodes[0].Addr)
		key := keyIn(int(r.Start), int(r.End))
		if err := m.Client().Set(ctx, key, "1", 0).Err(); err != nil {
			return fmt.Sprintf("%s: %v", m.Addr, err)
		}
		if n, err := m.Client().Wait(ctx, 1, 200*time.Millisecond).Result(); err != nil || n < 1 {
			return fmt.Sprintf("the replica of %s does not acknowledge writes yet", m.Addr)
		}
	}
	return ""
}

func (c *Cluster) firstRunning() int {
	for i, s := range c.Nodes {
		if s.Running() {
			return i
		}
	}
	return 0
}

// keyIn is a key whose slot lies in [start, end].
func keyIn(start, end int) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("redistest:probe:%d", i)
		if s := int(redisslot.Of(k)); s >= start && s <= end {
			return k
		}
	}
}

// Kill stops a node with SIGKILL, as a crash would.
func (c *Cluster) Kill(s *Server) { s.Stop() }

// WaitFailover waits until no running node names old as the master of any
// slot, and returns how long after since that was seen; then it waits until
// every running node reports the cluster ok again.
func (c *Cluster) WaitFailover(old *Server, since time.Time) time.Duration {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for c.servesSlots(old) {
		if time.Now().After(deadline) {
			c.t.Fatalf("no replica took over from %s within 30s", old.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(since)
	for !c.allOK() {
		if time.Now().After(deadline) {
			c.t.Fatal("the cluster did not report ok within 30s of the failover")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return took
}

// servesSlots reports whether any running node names s as a master.
func (c *Cluster) servesSlots(s *Server) bool {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		slots, err := n.Client().ClusterSlots(context.Background()).Result()
		if err != nil {
			return true // cannot tell yet
		}
		for _, r := range slots {
			if len(r.Nodes) > 0 && r.Nodes[0].Addr == s.Addr {
				return true
			}
		}
	}
	return false
}

func (c *Cluster) allOK() bool {
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		if info, err := s.Client().ClusterInfo(context.Background()).Result(); err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
	}
	return true
}

// Rejoin restarts a killed node: it comes back empty, learns from the
// cluster that a replica took its slots, and becomes that replica. It
// waits until the cluster is healthy again.
func (c *Cluster) Rejoin(s *Server) {
	c.t.Helper()
	s.Restart()
	c.WaitHealthy()
}
