package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/redisslot"
	"github.com/navius-dev/navius/providers"
)

// Database keeps a collection in hashes named after it, so that
// collections never collide (a collection's name is the whole rest of the
// key) and a query walks them with HSCAN.
//
// On one node and with Sentinel (one master) a collection is one hash,
// "<prefix>:db:<collection>": the layout navius has always used, so data
// written before stays readable and moving from one node to Sentinel needs
// no migration.
//
// In a cluster one hash would keep a whole collection on one master. There
// a collection is clusterBuckets hashes, "<prefix>:db:{<tag>}<collection>",
// each with its own hash tag (the collection's hash and the bucket number),
// so that the buckets fall on slots all over the cluster; a key lives in
// bucket fnv32a(key) mod clusterBuckets (fnv32a of its own hash tag, when
// the key has one: see bucketOf), and a query walks the buckets in order.
// The tag comes first so that braces in a collection's name cannot move it
// (the key prefix may not hold braces in a cluster).
//
// Each values hash has two siblings in its slot, for versions and expiry
// (see versions.go): "<prefix>:dbv:..." maps a key to its version and
// expiry time, and the sorted set "<prefix>:dbx:..." indexes the keys that
// expire by their expiry time, for Sweep. The values stay where they always
// were, so navius before versions reads them as they are and its walks see
// no metadata; a value without a version is an entry written before
// versions (providers.LegacyVersion, no expiry).
type Database struct {
	*conn
	feed    *feed
	buckets int
	sweep   sweepState
	// pipe merges concurrent reads into shared pipelines.
	pipe *pipeline
}

var (
	_ providers.Versioned = (*Database)(nil)
	_ providers.Expiring  = (*Database)(nil)
	_ providers.Batcher   = (*Database)(nil)

	_ providers.ExpiryReporter     = (*Database)(nil)
	_ providers.DetailedChangeFeed = (*Database)(nil)
)

// clusterBuckets is the number of bucket hashes per collection in a
// cluster. Fixed: changing it would move every key. 64 spreads a collection
// over up to 64 masters (with 3 masters, each gets 21 buckets on average
// and none is missed but with odds of 3·(2/3)^64 ≈ 1e-11), and keeps a walk
// of a small collection to 64 short HSCANs.
const clusterBuckets = 64

// OpenDatabase is the registry's opener for the redis URL schemes.
func OpenDatabase(ctx context.Context, cfg providers.DatabaseConfig) (*Database, error) {
	c, err := connect(ctx, cfg.URL, cfg.MaxConnections, cfg.TLS, cfg.Timeout, cfg.Settings)
	if err != nil {
		return nil, err
	}
	d := &Database{conn: c, buckets: 1}
	if c.mode == cluster {
		d.buckets = clusterBuckets
	}
	d.feed = newFeed(c, cfg.Settings.Duration("redis.fallback_ttl"))
	d.pipe = newPipeline(c.client, pipelineWorkers)
	return d, nil
}

// The kinds of hash a collection's bucket has: values (the layout navius
// has always had), versions and the expiry index.
const (
	valuesKind   = "db"
	versionsKind = "dbv"
	expiryKind   = "dbx"
)

// bucket is the name of the collection's values hash b.
func (d *Database) bucket(coll string, b int) string { return d.hashName(valuesKind, coll, b) }

// hashName is the name of the collection's hash of kind in bucket b; the
// three kinds of one bucket share a hash tag, and so a slot.
func (d *Database) hashName(kind, coll string, b int) string {
	if d.buckets == 1 {
		return d.prefix + ":" + kind + ":" + coll
	}
	return d.prefix + ":" + kind + ":{" + strconv.FormatUint(uint64(fnv32a(coll)), 16) + "." + strconv.Itoa(b) + "}" + coll
}

// bucketOf is the bucket of key. In a cluster a key with a hash tag (the
// text between its first '{' and the next '}', when not empty, as Redis
// Cluster reads keys) goes by its tag, so that the keys of a collection
// that share a tag share a bucket, a slot, and so can share a batch. Keys
// could not hold braces before this rule, so no existing key moved.
func (d *Database) bucketOf(key string) int {
	if d.buckets == 1 {
		return 0
	}
	return int(fnv32a(redisslot.HashTag(key)) % uint32(d.buckets))
}

// fnv32a is the 32-bit FNV-1a hash (hash/fnv's, without its allocation).
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	e, err := d.GetEntry(ctx, coll, key)
	return e.Value, err
}

// Set is Put without condition or TTL: like every write, it announces the
// change in the write's own atomic step, so that no write goes unannounced.
func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	_, err := d.Put(ctx, coll, key, value, providers.Write{})
	return err
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	return d.Remove(ctx, coll, key, providers.Condition{})
}

// runScript runs a script by its SHA1 (EVALSHA), and by its text (EVAL)
// when the node does not know it yet (NOSCRIPT).
func runScript(ctx context.Context, c processor, s *script, keys []string, args ...any) *goredis.Cmd {
	cmd := s.cmd(ctx, keys, args)
	_ = c.Process(ctx, cmd)
	if !goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return cmd
	}
	cmd = s.cmdWith(ctx, "eval", s.src, keys, args)
	_ = c.Process(ctx, cmd)
	return cmd
}

// cmd is the EVALSHA command of s, for pipelines (runScript when a node
// answers NOSCRIPT).
func (s *script) cmd(ctx context.Context, keys []string, args []any) *goredis.Cmd {
	return s.cmdWith(ctx, "evalsha", s.sha, keys, args)
}

func (s *script) cmdWith(ctx context.Context, name, body string, keys []string, args []any) *goredis.Cmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, name, body, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	return goredis.NewCmd(ctx, append(a, args...)...)
}

// script is a Lua script with its SHA1.
type script struct{ src, sha string }

func newScript(src string) *script {
	h := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(h[:])}
}

// durably runs a write through do on the master of hash. With
// redis.min_replicas set it then sends WAIT on the same connection (WAIT
// counts the replicas that have that connection's writes), and fails unless
// enough replicas confirm: replication is asynchronous, and a write only
// the master has is lost if the master dies and a replica takes over. In a
// cluster every write is one keyed command (a script, see writeScript),
// which goes through the cluster client's own retries and MOVED/ASK
// redirects (go-redis retries a failed MULTI/EXEC there by scattering its
// commands over nodes, MULTI to a random one).
func (d *Database) durably(ctx context.Context, hash string, do func(commander) error) error {
	if d.minReplicas == 0 {
		return mapErr("database", do(d.client))
	}
	m, err := d.masterFor(ctx, hash)
	if err != nil {
		return mapErr("database", err)
	}
	cn := m.Conn()
	defer cn.Close()
	if err := do(cn); err != nil {
		d.reload()
		return mapErr("database", err)
	}
	acks, err := cn.Wait(ctx, d.minReplicas, d.waitTimeout).Result()
	if err != nil {
		d.reload()
		return mapErr("database", err)
	}
	if int(acks) < d.minReplicas {
		return providers.Unavailable("database", &notReplicated{got: int(acks), want: d.minReplicas, within: d.waitTimeout})
	}
	return nil
}

// notReplicated: WAIT found fewer replicas with the write than asked for.
type notReplicated struct {
	got, want int
	within    time.Duration
}

func (e *notReplicated) Error() string {
	return fmt.Sprintf("the write reached %d of the %d replicas redis.min_replicas asks for within %s: the master has it, but a failover may lose it", e.got, e.want, e.within)
}

func (d *Database) Ping(ctx context.Context) error { return d.ping(ctx, "database") }

// Close stops the change feed and closes the connections.
func (d *Database) Close() error {
	d.feed.Close()
	d.pipe.close()
	return mapErr("database", d.close())
}

// Changes implements providers.ChangeFeed.
func (d *Database) Changes(fn func(collection, key string)) { d.feed.Changes(fn) }

// ChangeDetails implements providers.DetailedChangeFeed: expiries other
// instances' sweeps announce come marked as such.
func (d *Database) ChangeDetails(fn func(providers.Change)) { d.feed.ChangeDetails(fn) }

// Live implements providers.ChangeFeed.
func (d *Database) Live() bool { return d.feed.Live() }

// FallbackTTL implements providers.ChangeFeed.
func (d *Database) FallbackTTL() time.Duration { return d.feed.FallbackTTL() }

// HealthIndicators implements providers.HealthContributor. With Sentinel or
// a cluster, "redis_sentinel" or "redis_cluster" reports the topology. Once
// the change feed has a subscriber (a local cache in front of this
// database), "redis_changes" tells whether the subscription is live. Neither
// is critical: the database indicator's PING decides readiness, and while
// the feed is down, reads stay correct to within redis.fallback_ttl.
func (d *Database) HealthIndicators() []providers.HealthIndicator {
	out := d.topologyIndicator("redis")
	if !d.feed.Subscribed() {
		return out
	}
	return append(out, d.feed.HealthIndicator("redis_changes", func(s string) string { return s }))
}
