package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// Database keeps each collection in one hash, "<prefix>:db:<collection>",
// so that collections never collide (a collection's name is the whole rest
// of the key) and a query walks one hash with HSCAN.
type Database struct {
	*conn
	feed *feed
}

// OpenDatabase is the registry's opener for redis:// and rediss:// URLs.
func OpenDatabase(ctx context.Context, cfg providers.DatabaseConfig) (providers.Database, error) {
	c, err := connect(cfg.URL, cfg.MaxConnections, cfg.TLS, cfg.Timeout, cfg.Settings)
	if err != nil {
		return nil, err
	}
	d := &Database{conn: c}
	d.feed = newFeed(c, cfg.Settings.Duration("redis.fallback_ttl"))
	return d, nil
}

func (d *Database) hash(coll string) string { return d.prefix + ":db:" + coll }

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	v, err := d.client.HGet(ctx, d.hash(coll), key).Bytes()
	if err != nil {
		return nil, mapErr("database", err)
	}
	return v, nil
}

// Set writes the field and announces the change in one MULTI/EXEC, so that
// no write goes unannounced.
func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := d.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, d.hash(coll), key, value)
		d.feed.publish(ctx, p, coll, key)
		return nil
	})
	return mapErr("database", err)
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	var del *goredis.IntCmd
	_, err := d.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		del = p.HDel(ctx, d.hash(coll), key)
		d.feed.publish(ctx, p, coll, key)
		return nil
	})
	if err != nil {
		return false, mapErr("database", err)
	}
	return del.Val() > 0, nil
}

// pingTimeout bounds a PING: a Redis that takes longer to answer one is
// reported down, so that a hung server (accepting connections but not
// answering) shows in readiness as quickly as a stopped one.
const pingTimeout = 500 * time.Millisecond

func (d *Database) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := d.client.Ping(ctx).Err()
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return providers.Unavailable("database", fmt.Errorf("no answer to PING within %s", pingTimeout))
	}
	return mapErr("database", err)
}

// Close stops the change feed and closes the connection pool.
func (d *Database) Close() error {
	d.feed.close()
	return mapErr("database", d.client.Close())
}

// Changes implements providers.ChangeFeed.
func (d *Database) Changes(fn func(collection, key string)) { d.feed.subscribe(fn) }

// Live implements providers.ChangeFeed.
func (d *Database) Live() bool { return d.feed.live.Load() }

// FallbackTTL implements providers.ChangeFeed.
func (d *Database) FallbackTTL() time.Duration { return d.feed.fallbackTTL }

// HealthIndicators implements providers.HealthContributor: once the change
// feed has a subscriber (a local cache in front of this database), the
// "redis_changes" indicator tells whether the subscription is live. It is
// not critical: while it is down, reads stay correct to within
// redis.fallback_ttl.
func (d *Database) HealthIndicators() []providers.HealthIndicator {
	if !d.feed.subscribed() {
		return nil
	}
	return []providers.HealthIndicator{{
		Name: "redis_changes", Order: 25, ComponentType: "component",
		Metadata: map[string]string{"channel": d.feed.channel},
		Check: func(ctx context.Context) providers.HealthResult {
			r := providers.HealthResult{Status: providers.StatusUp, Details: map[string]any{
				"channel": d.feed.channel, "live": d.Live(), "fallback_ttl": d.feed.fallbackTTL.String(),
			}}
			if !d.Live() {
				r.Status = providers.StatusDown
				r.Error = "not subscribed to " + d.feed.channel + ": other instances' writes may be missed, so local cache entries live at most " + d.feed.fallbackTTL.String()
			}
			return r
		},
	}}
}
