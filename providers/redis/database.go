package redis

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
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

// scanCount is the HSCAN COUNT hint; small hashes come back whole anyway.
const scanCount = 256

// Query walks the hash with HSCAN. The cursor holds the HSCAN cursor of the
// batch being read and the last field returned from it (batches are sorted
// by field), so a page can end in the middle of a batch. Redis guarantees
// that a field present for the whole walk is returned; like SCAN itself, a
// field may come twice if the hash is resized in the middle of a walk.
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	scan, after, err := decodeCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	filter := []byte(q.Filter)
	var page providers.Page
	for {
		kv, next, err := d.client.HScan(ctx, d.hash(coll), scan, "", scanCount).Result()
		if err != nil {
			return providers.Page{}, mapErr("database", err)
		}
		batch := make([]providers.Item, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] > after || after == "" {
				batch = append(batch, providers.Item{Key: kv[i], Value: []byte(kv[i+1])})
			}
		}
		slices.SortFunc(batch, func(a, b providers.Item) int { return strings.Compare(a.Key, b.Key) })
		for _, it := range batch {
			if !bytes.Contains(it.Value, filter) {
				continue
			}
			if len(page.Items) == limit {
				// More matches in this batch: resume after the last one.
				page.NextCursor = encodeCursor(scan, page.Items[limit-1].Key)
				return page, nil
			}
			page.Items = append(page.Items, it)
		}
		if next == 0 {
			return page, nil
		}
		scan, after = next, ""
		if len(page.Items) == limit {
			page.NextCursor = encodeCursor(scan, "")
			return page, nil
		}
	}
}

func encodeCursor(scan uint64, after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(scan, 10) + ":" + after))
}

func decodeCursor(c string) (uint64, string, error) {
	if c == "" {
		return 0, "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	num, after, ok := strings.Cut(string(b), ":")
	scan, perr := strconv.ParseUint(num, 10, 64)
	if err != nil || !ok || perr != nil {
		return 0, "", providers.Invalid("malformed cursor %q: pass back the next_cursor of the previous page", c)
	}
	return scan, after, nil
}

func (d *Database) Ping(ctx context.Context) error {
	return mapErr("database", d.client.Ping(ctx).Err())
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
