package redis

import (
	"context"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// sweepScript removes up to ARGV[1] expired entries of one bucket: those
// its expiry index (KEYS[3]) scores at or before Redis's time and whose
// version (KEYS[2]) says so too, announcing each on channel ARGV[2] with
// the message ARGV[3] .. key. It returns the keys whose values it removed.
var sweepScript = newScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = {}
for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))) do
  local m = redis.call('HGET', KEYS[2], f)
  local x = m and tonumber(string.sub(m, 18))
  if x and x > now then
    redis.call('ZADD', KEYS[3], x, f)
  else
    redis.call('ZREM', KEYS[3], f)
    if x then
      if redis.call('HDEL', KEYS[1], f) == 1 then gone[#gone + 1] = f end
      redis.call('HDEL', KEYS[2], f)
      redis.call('PUBLISH', ARGV[2], ARGV[3] .. f)
    end
  end
end
return gone`)

// sweepState is what Sweep knows of the expiry indexes: those this instance
// wrote to or found, visited in turn, and where its SCAN for the others
// (written by other instances, or before a restart) is on each master.
type sweepState struct {
	mu      sync.Mutex
	indexes []string
	known   map[string]bool
	next    int               // the index to visit first
	scans   map[string]uint64 // master address -> SCAN cursor
}

// Bounds on a Sweep call's work: indexes whose soonest expiry it reads (in
// one pipelined round trip), and keys a SCAN step on each master examines
// when looking for indexes. maxIndexes bounds the memory of the ones known.
const (
	sweepVisits = 256
	sweepScan   = 1000
	maxIndexes  = 1 << 16
)

// note adds an expiry index to the known ones.
func (s *sweepState) note(index string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known[index] || len(s.indexes) >= maxIndexes {
		return
	}
	if s.known == nil {
		s.known = map[string]bool{}
	}
	s.known[index] = true
	s.indexes = append(s.indexes, index)
}

// visit returns up to n known indexes, from where the last call stopped.
func (s *sweepState) visit(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.indexes))
	out := make([]string, 0, n)
	for range n {
		if s.next >= len(s.indexes) {
			s.next = 0
		}
		out = append(out, s.indexes[s.next])
		s.next++
	}
	return out
}

// forget drops an index that no longer exists (Redis removes an empty
// sorted set).
func (s *sweepState) forget(index string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known[index] {
		return
	}
	delete(s.known, index)
	i := 0
	for s.indexes[i] != index {
		i++
	}
	s.indexes = append(s.indexes[:i], s.indexes[i+1:]...)
	if s.next > i {
		s.next--
	}
}

// Sweep implements providers.Expiring with bounded work per call: one SCAN
// step per master for expiry indexes it does not know yet, one pipelined
// read of the soonest expiry of up to sweepVisits known indexes, and a
// sweepScript on each index with expired entries, until limit entries are
// removed.
//
// A sweep does not wait for replicas (redis.min_replicas): what it removes
// had expired, so no reader sees it either way, and if a failover loses the
// removal, the index that the entry is still in brings a later sweep back.
func (d *Database) Sweep(ctx context.Context, limit int) (int, error) {
	return d.SweepKeys(ctx, limit, nil)
}

// SweepKeys implements providers.ExpiryReporter: Sweep, naming each entry
// it removed.
func (d *Database) SweepKeys(ctx context.Context, limit int, gone func(collection, key string)) (int, error) {
	if err := d.discover(ctx); err != nil {
		return 0, mapErr("database", err)
	}
	indexes := d.sweep.visit(sweepVisits)
	if len(indexes) == 0 || limit <= 0 {
		return 0, nil
	}
	soonest := make([]*goredis.ZSliceCmd, len(indexes))
	_, err := d.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, x := range indexes {
			soonest[i] = p.ZRangeWithScores(ctx, x, 0, 0)
		}
		return nil
	})
	if err != nil {
		return 0, mapErr("database", err)
	}
	now, within, ok := d.serverNow()
	removed := 0
	for i, index := range indexes {
		first := soonest[i].Val()
		if len(first) == 0 {
			d.sweep.forget(index)
			continue
		}
		if ok && int64(first[0].Score) > now.Add(within).UnixMilli() {
			continue // nothing due yet
		}
		values, versions, coll, good := d.bucketOfIndex(index)
		if !good {
			d.sweep.forget(index)
			continue
		}
		keys, err := runScript(ctx, d.client, sweepScript, []string{values, versions, index},
			limit-removed, d.feed.Channel, d.feed.expiryPrefix(coll)).StringSlice()
		if err != nil {
			return removed, mapErr("database", err)
		}
		if gone != nil {
			for _, k := range keys {
				gone(coll, k)
			}
		}
		if removed += len(keys); removed >= limit {
			break
		}
	}
	return removed, nil
}

// discover takes one SCAN step on each master for expiry indexes of this
// key prefix, and notes those it finds.
func (d *Database) discover(ctx context.Context) error {
	match := globEscape(d.prefix+":"+expiryKind+":") + "*"
	return d.forEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error {
		addr := m.Options().Addr
		d.sweep.mu.Lock()
		cursor := d.sweep.scans[addr]
		d.sweep.mu.Unlock()
		keys, next, err := m.ScanType(ctx, cursor, match, sweepScan, "zset").Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			d.sweep.note(k)
		}
		d.sweep.mu.Lock()
		if d.sweep.scans == nil {
			d.sweep.scans = map[string]uint64{}
		}
		d.sweep.scans[addr] = next
		d.sweep.mu.Unlock()
		return nil
	})
}

// bucketOfIndex reads an expiry index's name back: the names of its values
// and versions hashes, and its collection.
func (d *Database) bucketOfIndex(index string) (values, versions, coll string, ok bool) {
	rest, ok := strings.CutPrefix(index, d.prefix+":"+expiryKind+":")
	if !ok {
		return "", "", "", false
	}
	coll = rest
	if d.buckets > 1 {
		if _, c, found := strings.Cut(rest, "}"); found && strings.HasPrefix(rest, "{") {
			coll = c
		} else {
			return "", "", "", false
		}
	}
	return d.prefix + ":" + valuesKind + ":" + rest, d.prefix + ":" + versionsKind + ":" + rest, coll, coll != ""
}
