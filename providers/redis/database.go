package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
// bucket fnv32a(key) mod clusterBuckets, and a query walks the buckets in
// order. The tag comes first so that braces in a collection's name cannot
// move it (the key prefix may not hold braces in a cluster).
type Database struct {
	*conn
	feed    *feed
	buckets int
}

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
	return d, nil
}

// hash is the hash that holds key of collection coll.
func (d *Database) hash(coll, key string) string {
	if d.buckets == 1 {
		return d.bucket(coll, 0)
	}
	return d.bucket(coll, int(fnv32a(key)%uint32(d.buckets)))
}

// bucket is the name of the collection's bucket b.
func (d *Database) bucket(coll string, b int) string {
	if d.buckets == 1 {
		return d.prefix + ":db:" + coll
	}
	return d.prefix + ":db:{" + strconv.FormatUint(uint64(fnv32a(coll)), 16) + "." + strconv.Itoa(b) + "}" + coll
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
	v, err := d.client.HGet(ctx, d.hash(coll, key), key).Bytes()
	if err != nil {
		return nil, mapErr("database", err)
	}
	return v, nil
}

// Set writes the field and announces the change atomically, so that no
// write goes unannounced.
func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := d.write(ctx, coll, key, value)
	return err
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	n, err := d.write(ctx, coll, key, nil)
	return n > 0, err
}

// announced writes (HSET, or HDEL when there is no value) and publishes
// the change in one script: in a cluster, go-redis retries a MULTI/EXEC
// whose node failed by sending its commands to their own nodes (MULTI and
// PUBLISH, which name no key, to a random one), which leaves connections
// waiting out read timeouts; one keyed command goes through the cluster
// client's own retries and MOVED/ASK redirects. KEYS[1] is the hash; ARGV
// the channel, the message, the field and the value.
const announced = `
local n
if ARGV[4] then n = redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) else n = redis.call('HDEL', KEYS[1], ARGV[3]) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return n`

var announcedSHA = func() string { h := sha1.Sum([]byte(announced)); return hex.EncodeToString(h[:]) }()

// runScript runs a script by its SHA1 (EVALSHA), and by its text (EVAL)
// when the node does not know it yet (NOSCRIPT).
func runScript(ctx context.Context, c commander, src, sha string, keys []string, args ...any) *goredis.Cmd {
	call := func(name, body string) *goredis.Cmd {
		a := append([]any{name, body, len(keys)}, make([]any, 0, len(keys)+len(args))...)
		for _, k := range keys {
			a = append(a, k)
		}
		cmd := goredis.NewCmd(ctx, append(a, args...)...)
		_ = c.Process(ctx, cmd)
		return cmd
	}
	if cmd := call("evalsha", sha); !goredis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		return cmd
	}
	return call("eval", src)
}

// write stores value (nil: deletes) under key, announces it on the change
// feed in the same atomic step, and returns what HSET or HDEL returned. On
// one node and with Sentinel that step is a MULTI/EXEC, in a cluster a
// script (see announced), on the master of the key's hash. With
// redis.min_replicas set it then sends WAIT on the same connection (WAIT
// counts the replicas that have that connection's writes, and does not
// block inside MULTI), and fails unless enough replicas confirm:
// replication is asynchronous, and a write only the master has is lost if
// the master dies and a replica takes over.
func (d *Database) write(ctx context.Context, coll, key string, value []byte) (int64, error) {
	hash := d.hash(coll, key)
	if d.minReplicas == 0 {
		n, err := d.apply(ctx, d.client, hash, coll, key, value)
		return n, mapErr("database", err)
	}
	m, err := d.masterFor(ctx, hash)
	if err != nil {
		return 0, mapErr("database", err)
	}
	cn := m.Conn()
	defer cn.Close()
	n, err := d.apply(ctx, cn, hash, coll, key, value)
	if err != nil {
		d.reload()
		return 0, mapErr("database", err)
	}
	acks, err := cn.Wait(ctx, d.minReplicas, d.waitTimeout).Result()
	if err != nil {
		d.reload()
		return 0, mapErr("database", err)
	}
	if int(acks) < d.minReplicas {
		return 0, providers.Unavailable("database", &notReplicated{got: int(acks), want: d.minReplicas, within: d.waitTimeout})
	}
	return n, nil
}

// apply runs the write and its announcement through c.
func (d *Database) apply(ctx context.Context, c commander, hash, coll, key string, value []byte) (int64, error) {
	msg := d.feed.message(coll, key)
	if d.mode == cluster {
		args := []any{d.feed.Channel, msg, key}
		if value != nil {
			args = append(args, value)
		}
		return runScript(ctx, c, announced, announcedSHA, []string{hash}, args...).Int64()
	}
	var cmd *goredis.IntCmd
	_, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		if value != nil {
			cmd = p.HSet(ctx, hash, key, value)
		} else {
			cmd = p.HDel(ctx, hash, key)
		}
		p.Publish(ctx, d.feed.Channel, msg)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return cmd.Val(), nil
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
	return mapErr("database", d.close())
}

// Changes implements providers.ChangeFeed.
func (d *Database) Changes(fn func(collection, key string)) { d.feed.Changes(fn) }

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
