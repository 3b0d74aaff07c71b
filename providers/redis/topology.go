package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// masterFor returns a client whose commands go to the master holding key,
// and on which a pipeline uses one connection: for WAIT, which counts the
// replicas of the connection's own writes, and for reading a node's
// identity along with a batch of a walk.
func (c *conn) masterFor(ctx context.Context, key string) (*goredis.Client, error) {
	if c.cluster != nil {
		return c.cluster.masterForKey(ctx, key)
	}
	return c.node, nil
}

// forEachMaster calls fn for every master, concurrently in a cluster
// (where it reloads the slot map first).
func (c *conn) forEachMaster(ctx context.Context, fn func(context.Context, *goredis.Client) error) error {
	if c.cluster != nil {
		return c.cluster.forEachMaster(ctx, fn)
	}
	return fn(ctx, c.node)
}

// reload asks a cluster client to re-read the slot map soon (at most every
// 200 ms, in the background): after a command failed on a node that may
// have lost its slots.
func (c *conn) reload() {
	if c.cluster != nil {
		c.cluster.reloadState()
	}
}

// reloadOnFailure re-reads the slot map whenever a command through the
// cluster client fails because of a node (see nodeTrouble). After a
// failover go-redis keeps sending a slot's commands to the dead master until
// a MOVED reply (which a dead node never sends) or its periodic reload
// (10 s); reloading on failure finds the promoted replica as soon as the
// cluster knows it.
type reloadOnFailure struct{ reload func() }

// nodeTrouble tells errors that may mean the slot map is out of date (a
// network error, a node that is down, loading or no longer the master)
// from replies about the command itself (a nil reply, NOSCRIPT, WRONGTYPE)
// and from a caller that went away.
func nodeTrouble(err error) bool {
	var reply goredis.Error
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	if !errors.As(err, &reply) {
		return true
	}
	for _, p := range []string{"MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "MASTERDOWN", "LOADING"} {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

func (h reloadOnFailure) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h reloadOnFailure) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if nodeTrouble(err) {
			h.reload()
		}
		return err
	}
}

func (h reloadOnFailure) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if nodeTrouble(err) {
			h.reload()
		}
		return err
	}
}

// pingTimeout bounds a health check's round trips: a Redis that takes
// longer to answer a PING is reported down, so that a hung server
// (accepting connections but not answering) shows in readiness as quickly
// as a stopped one.
const pingTimeout = 500 * time.Millisecond

// ping checks that the data can be served: the one node or the master the
// sentinels name answers; in a cluster, every master that holds slots
// answers and the cluster reports its state ok (every slot covered). The
// question is TIME, whose answers make a sample of Redis's clock (see
// clockSample).
func (c *conn) ping(ctx context.Context, service string) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var err error
	if c.cluster == nil {
		var t timing
		if t, err = askTime(ctx, c.node); err == nil {
			c.noteTimes([]timing{t}, false)
		}
	} else {
		err = c.pingCluster(ctx)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		if msg := c.plainText(err); msg != "" {
			return providers.Unavailable(service, errors.New(msg))
		}
		return providers.Unavailable(service, fmt.Errorf("no answer to PING within %s", pingTimeout))
	}
	return mapErr(service, err)
}

// pingCluster fails when the instance can serve nothing: no slot map, or
// no master answering. A failed shard alone leaves it ready (its keys get
// 503 until a replica takes over; redis_cluster in /health says which), so
// that one shard's failover does not take the whole fleet out of the load
// balancer; with redis.cluster_readiness=all, it fails too.
func (c *conn) pingCluster(ctx context.Context) error {
	masters := c.clusterMasters(ctx)
	if masters.err != nil {
		return masters.err
	}
	var firstErr error
	answering := 0
	for _, m := range masters.list {
		if m.err == nil {
			answering++
		} else if firstErr == nil {
			firstErr = fmt.Errorf("master %s does not answer: %w", m.addr, m.err)
		}
	}
	switch {
	case answering == 0 && firstErr != nil:
		return fmt.Errorf("no master answers: %w", firstErr)
	case !c.readyAll:
		return nil
	case firstErr != nil:
		return firstErr
	case masters.state != "" && masters.state != "ok":
		return fmt.Errorf("cluster_state is %s: some slots have no master", masters.state)
	}
	return nil
}

type masterState struct {
	addr  string
	slots string // e.g. "0-5460"; filled by the health indicator
	err   error
}

type clusterReport struct {
	list  []masterState
	state string // cluster_state as one node reports it; "" when unknown
	epoch int64  // cluster_current_epoch
	err   error  // no slot map at all
}

// clusterMasters asks every master of a freshly read slot map for TIME
// (their answers sample the clock) and reads the cluster's state from one
// node.
func (c *conn) clusterMasters(ctx context.Context) clusterReport {
	var r clusterReport
	var mu sync.Mutex
	var times []timing
	r.err = c.cluster.forEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		t, err := askTime(ctx, m)
		mu.Lock()
		r.list = append(r.list, masterState{addr: m.Options().Addr, err: err})
		if err == nil {
			times = append(times, t)
		}
		mu.Unlock()
		return nil
	})
	if r.err != nil {
		c.reload()
		return r
	}
	if len(times) == len(r.list) {
		c.noteTimes(times, false)
	}
	sort.Slice(r.list, func(i, j int) bool { return r.list[i].addr < r.list[j].addr })
	for _, m := range r.list {
		if m.err != nil {
			c.reload()
		}
	}
	if info, err := c.cluster.clusterInfo(ctx); err == nil {
		r.state = infoField(info, "cluster_state")
		r.epoch, _ = strconv.ParseInt(infoField(info, "cluster_current_epoch"), 10, 64)
	}
	return r
}

// clusterEpoch is the cluster's current epoch as one node reports it. It
// grows with every failover.
func (c *conn) clusterEpoch(ctx context.Context) (int64, error) {
	info, err := c.cluster.clusterInfo(ctx)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(infoField(info, "cluster_current_epoch"), 10, 64)
}

// infoField reads "name:value" from INFO or CLUSTER INFO output.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// probeCluster asks each seed node for CLUSTER INFO: a node that answers
// without cluster support makes a configuration error. Seeds that cannot be
// reached are not: navius starts and connects once they answer.
func probeCluster(ctx context.Context, uo *goredis.UniversalOptions) error {
	for _, addr := range uo.Addrs {
		o := *uo
		o.Addrs = []string{addr}
		node := goredis.NewClient(o.Simple())
		pctx, cancel := context.WithTimeout(ctx, o.DialTimeout+time.Second)
		err := node.ClusterInfo(pctx).Err()
		cancel()
		_ = node.Close()
		if err != nil && strings.Contains(err.Error(), "cluster support disabled") {
			return providers.Invalid("redis+cluster URL: %s is not a cluster node (it runs without cluster-enabled): list the cluster's nodes, or use redis://%s for a single node", addr, addr)
		}
	}
	return nil
}

// sentinelOptions are the options of a client to one sentinel: the
// sentinels' own credentials, the rest as for the data nodes.
func sentinelOptions(fo *goredis.FailoverOptions, addr string) *goredis.Options {
	return &goredis.Options{
		Addr: addr, Username: fo.SentinelUsername, Password: fo.SentinelPassword, Dialer: fo.Dialer,
		DialTimeout: fo.DialTimeout, ReadTimeout: fo.ReadTimeout, WriteTimeout: fo.WriteTimeout,
		MaxRetries: fo.MaxRetries, MinRetryBackoff: fo.MinRetryBackoff, MaxRetryBackoff: fo.MaxRetryBackoff,
		DialerRetries: fo.DialerRetries, DialerRetryTimeout: fo.DialerRetryTimeout,
		ContextTimeoutEnabled: true, PoolSize: 2, MaintNotificationsConfig: noMaintNotifications(),
	}
}

// sentinelAnswer is what one sentinel says about the master.
type sentinelAnswer struct {
	sentinel string
	master   string // host:port
	err      error
}

// askSentinels asks every sentinel, concurrently, for the master's address.
func (c *conn) askSentinels(ctx context.Context) []sentinelAnswer {
	out := make([]sentinelAnswer, len(c.sentinels))
	var wg sync.WaitGroup
	for i, s := range c.sentinels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].sentinel = c.sentinelAddrs[i]
			addr, err := s.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", c.master).StringSlice()
			if err == nil && len(addr) == 2 {
				out[i].master = net.JoinHostPort(addr[0], addr[1])
			} else {
				out[i].err = err
			}
		}()
	}
	wg.Wait()
	return out
}

// probeSentinels turns what the sentinels say into a configuration error
// when none that answers knows the master name, or the "sentinels" are
// Redis servers. Sentinels that cannot be reached are not an error.
func (c *conn) probeSentinels(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.dialTimeout+time.Second)
	defer cancel()
	var unknown, notSentinel string
	for _, a := range c.askSentinels(ctx) {
		addr := a.sentinel
		switch {
		case a.err == nil:
			return nil
		case errors.Is(a.err, goredis.Nil):
			unknown = addr
		case strings.Contains(strings.ToLower(a.err.Error()), "unknown command"):
			notSentinel = addr
		}
	}
	switch {
	case unknown != "":
		hint := ""
		if names := c.masterNames(ctx, unknown); len(names) > 0 {
			hint = " (it monitors " + strings.Join(names, ", ") + ")"
		}
		return providers.Invalid("redis+sentinel URL: sentinel %s does not know master %q%s: set ?master= to the name in its \"sentinel monitor\" line", unknown, c.master, hint)
	case notSentinel != "":
		return providers.Invalid("redis+sentinel URL: %s is not a sentinel (it has no SENTINEL command): list the sentinels (port 26379 by default), or use redis://%s for a single node", notSentinel, notSentinel)
	}
	return nil
}

// masterNames lists the masters a sentinel monitors, for an error message.
func (c *conn) masterNames(ctx context.Context, addr string) []string {
	for i, s := range c.sentinels {
		if c.sentinelAddrs[i] != addr {
			continue
		}
		masters, err := s.Do(ctx, "SENTINEL", "MASTERS").Slice()
		if err != nil {
			return nil
		}
		var names []string
		for _, m := range masters {
			switch f := m.(type) {
			case []any: // RESP2: name, value, name, value...
				for i := 0; i+1 < len(f); i += 2 {
					if f[i] == "name" {
						names = append(names, fmt.Sprint(f[i+1]))
					}
				}
			case map[any]any: // RESP3
				names = append(names, fmt.Sprint(f["name"]))
			}
		}
		sort.Strings(names)
		return names
	}
	return nil
}

// topologyIndicator reports the topology beside the critical "database"
// (or cache) check: in a cluster each master with its slots and whether it
// answers, and the cluster's state; with Sentinel the master the sentinels
// name and how many of them answer. It is not critical: the PING of the
// database indicator already decides readiness.
func (c *conn) topologyIndicator(name string) []providers.HealthIndicator {
	switch c.mode {
	case cluster:
		return []providers.HealthIndicator{{
			Name: name + "_cluster", Order: 24, ComponentType: "datastore",
			Metadata: map[string]string{"seeds": c.hosts},
			Check:    c.clusterHealth,
		}}
	case sentinel:
		return []providers.HealthIndicator{{
			Name: name + "_sentinel", Order: 24, ComponentType: "datastore",
			Metadata: map[string]string{"sentinels": c.hosts, "master_name": c.master},
			Check:    c.sentinelHealth,
		}}
	}
	return nil
}

func (c *conn) clusterHealth(ctx context.Context) providers.HealthResult {
	ctx, cancel := context.WithTimeout(ctx, 2*pingTimeout)
	defer cancel()
	r := c.clusterMasters(ctx)
	if r.err != nil {
		return providers.HealthResult{Status: providers.StatusDown, Error: "no slot map from any node: " + r.err.Error()}
	}
	slots := map[string][]string{}
	if ranges, err := c.cluster.clusterSlots(ctx); err == nil {
		for _, s := range ranges {
			if len(s.Nodes) > 0 {
				slots[s.Nodes[0].Addr] = append(slots[s.Nodes[0].Addr], fmt.Sprintf("%d-%d", s.Start, s.End))
			}
		}
	}
	res := providers.HealthResult{Status: providers.StatusUp, Details: map[string]any{"cluster_state": r.state, "epoch": r.epoch}}
	masters := map[string]any{}
	var down []string
	for _, m := range r.list {
		d := map[string]any{"status": providers.StatusUp, "slots": strings.Join(slots[m.addr], ",")}
		if m.err != nil {
			d["status"], d["error"] = providers.StatusDown, m.err.Error()
			down = append(down, m.addr)
		}
		masters[m.addr] = d
	}
	res.Details["masters"] = masters
	res.Details["masters_answering"] = fmt.Sprintf("%d/%d", len(r.list)-len(down), len(r.list))
	switch {
	case len(down) > 0:
		res.Status, res.Error = providers.StatusDown, "degraded: master "+strings.Join(down, ", ")+" does not answer: its slots get 503 until a replica takes over; the others are served"
	case r.state != "ok":
		res.Status, res.Error = providers.StatusDown, "cluster_state is "+r.state+" (or unknown): some slots have no master"
	}
	return res
}

func (c *conn) sentinelHealth(ctx context.Context) providers.HealthResult {
	ctx, cancel := context.WithTimeout(ctx, 2*pingTimeout)
	defer cancel()
	answers := c.askSentinels(ctx)
	res := providers.HealthResult{Status: providers.StatusUp, Details: map[string]any{"master_name": c.master}}
	seen := map[string]int{}
	n := 0
	for _, a := range answers {
		if a.err == nil {
			n++
			seen[a.master]++
		}
	}
	res.Details["sentinels_answering"] = fmt.Sprintf("%d/%d", n, len(answers))
	master := ""
	for addr, k := range seen {
		if master == "" || k > seen[master] || k == seen[master] && addr < master {
			master = addr
		}
	}
	res.Details["master"] = master
	if err := c.node.Ping(ctx).Err(); err != nil {
		res.Status, res.Error = providers.StatusDown, "the master does not answer: "+err.Error()
	} else if n == 0 {
		res.Status, res.Error = providers.StatusDown, "no sentinel answers: a failover would not be noticed"
	}
	return res
}

// runID is the node's run_id from INFO server: it changes when another
// process (a promoted replica, a restarted server) answers.
func runID(info string) string { return infoField(info, "run_id") }
