package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/internal/redisslot"
	"github.com/navius-dev/navius/providers"
)

// Versions, expiry and batches (providers.Versioned, Expiring, Batcher).
//
// Layout: beside each values hash (see Database) the versions hash
// "<prefix>:dbv:<same name>" maps a key to "<version>" or
// "<version>:<expiry>", the version as providers.FormatVersion makes it (16
// hex digits, random: providers.NewVersion) and the expiry time in
// milliseconds of Redis's clock (Redis 7.0 has no expiry of hash fields;
// HEXPIRE came in 7.4). The expiry index "<prefix>:dbx:<same name>", a
// sorted set of the keys that expire scored by their expiry time, tells
// Sweep where to look. All three share the values hash's hash tag: in a
// cluster they are in one slot, so one script reaches them.
//
// A value without a version is an entry navius wrote before versions: it
// has providers.LegacyVersion and no expiry, and its first write gives it a
// version. Nothing is rewritten in place, and navius before versions reads
// and walks the values as they are. A version without a value (navius
// before versions deleted the value) is ignored. Writes by navius before
// versions leave the version as it was, so run only new instances once
// clients rely on ETags: an old instance's write keeps the version it
// overwrote, and an expiry set before it still applies.
//
// Every write (Put, Remove, a batch) is one script, writeScript: it decides
// every condition on the live entries (an expired entry does not exist for
// it, by Redis's clock: TIME), and only then writes values, versions and
// the index and announces each change on the change feed, in one atomic
// step. A Put that decides nothing (no condition, no TTL) is a MULTI/EXEC
// on one node and Sentinel (see plainPut). Reads need no script: GetEntry reads the value and its
// version in one pipelined round trip and decides expiry against Redis's
// clock as estimated here (see expired).

// writeScript applies write operations all or nothing.
//
// KEYS are triples (values, versions, expiry index) of hashes of one
// bucket. ARGV[1] is the change channel and ARGV[2] the start of a change
// message (the instance's id and a space); then come the operations, each
// as: the number of its triple (from 1), collection, key, flags (1: must
// exist, 2: must not exist, 3: both), new version ("" for a delete), TTL in
// ms (0: none), value, the number of versions it must match, those
// versions.
//
// It returns {1, existed...} (existed: 1 where the op's entry was live) when
// it applied the operations, {0, op, exists, version} for the first op whose
// condition failed, having written nothing, and {2} when a put's entry
// already holds the version this call would give it: a retry (go-redis
// resends a command whose reply timed out) of a call that was applied.
//
// It keeps to arrays and locals, and reads TIME only when an entry has an
// expiry or gets one: Lua's tables and calls are most of a script's cost.
var writeScript = newScript(`
local now
local function clock()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
local at, cur, exp = {}, {}, {}
local n, i = 0, 3
while i <= #ARGV do
  n = n + 1
  at[n] = i
  local k, f = tonumber(ARGV[i]) * 3 - 2, ARGV[i+2]
  local m = redis.call('HGET', KEYS[k+1], f)
  local x = m and tonumber(string.sub(m, 18))
  exp[n] = x or false
  cur[n] = false
  if redis.call('HEXISTS', KEYS[k], f) == 1 and not (x and x <= clock()) then
    cur[n] = m and string.sub(m, 1, 16) or '0000000000000000'
  end
  if ARGV[i+4] ~= '' and cur[n] == ARGV[i+4] then return {2} end
  i = i + 8 + tonumber(ARGV[i+7])
end
for o = 1, n do
  local i, c = at[o], cur[o]
  local flags, nm = tonumber(ARGV[i+3]), tonumber(ARGV[i+7])
  local ok = not (flags >= 2 and c) and not ((flags % 2 == 1 or nm > 0) and not c)
  if ok and nm > 0 then
    ok = false
    for j = i + 8, i + 7 + nm do
      if ARGV[j] == c then ok = true end
    end
  end
  if not ok then return {0, o, c and 1 or 0, c or ''} end
end
local out = {1}
for o = 1, n do
  local i = at[o]
  local k, f, ver, ttl = tonumber(ARGV[i]) * 3 - 2, ARGV[i+2], ARGV[i+4], tonumber(ARGV[i+5])
  if ver == '' then
    redis.call('HDEL', KEYS[k], f)
    redis.call('HDEL', KEYS[k+1], f)
  else
    redis.call('HSET', KEYS[k], f, ARGV[i+6])
    if ttl > 0 then
      local x = clock() + ttl
      redis.call('HSET', KEYS[k+1], f, ver .. ':' .. string.format('%.0f', x))
      redis.call('ZADD', KEYS[k+2], x, f)
    else
      redis.call('HSET', KEYS[k+1], f, ver)
    end
  end
  if exp[o] and not (ver ~= '' and ttl > 0) then redis.call('ZREM', KEYS[k+2], f) end
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ARGV[i+1] .. '\0' .. f)
  out[o+1] = cur[o] and 1 or 0
end
return out`)

// readScript reads the fields ARGV of a bucket's values hash (KEYS[1]) and
// versions hash (KEYS[2]) at one instant: the values, then the versions,
// false for a field not there. Two commands in one pipeline could
// straddle another client's write or a sweep, pairing a value with the
// version of another write; a script runs alone.
var readScript = newScript(`
local v = redis.call('HMGET', KEYS[1], unpack(ARGV))
local m = redis.call('HMGET', KEYS[2], unpack(ARGV))
for i = 1, #m do v[#ARGV + i] = m[i] end
return v`)

// readKeys are readScript's keys for bucket b of coll.
func (d *Database) readKeys(coll string, b int) []string {
	return []string{d.hashName(valuesKind, coll, b), d.hashName(versionsKind, coll, b)}
}

// readReply is readScript's answer for n fields.
type readReply struct {
	out []any
	n   int
}

func readReplyOf(cmd *goredis.Cmd, n int) (readReply, error) {
	out, err := cmd.Slice()
	if err != nil {
		return readReply{}, mapErr("database", err)
	}
	if len(out) != 2*n {
		return readReply{}, fmt.Errorf("redis: the read script answered %d replies for %d fields", len(out), n)
	}
	return readReply{out, n}, nil
}

// field is field i's value (ok false when it is not there) and version.
func (r readReply) field(i int) (value string, ok bool, meta string) {
	value, ok = r.out[i].(string)
	meta, _ = r.out[r.n+i].(string)
	return value, ok, meta
}

// GetEntry implements providers.Versioned: the value and its version, read
// together by one script (both hashes are in one slot).
func (d *Database) GetEntry(ctx context.Context, coll, key string) (providers.Entry, error) {
	b := d.bucketOf(key)
	r, err := readReplyOf(runScript(ctx, d.pipe, readScript, d.readKeys(coll, b), key), 1)
	if err != nil {
		return providers.Entry{}, err
	}
	v, ok, meta := r.field(0)
	if !ok {
		return providers.Entry{}, providers.ErrNotFound
	}
	e := providers.Entry{Value: []byte(v)}
	var expires int64
	e.Version, expires = parseMeta(meta)
	if expires != 0 {
		gone, err := d.expired(ctx, d.bucket(coll, b), expires)
		if err != nil {
			return providers.Entry{}, err
		}
		if gone {
			return providers.Entry{}, providers.ErrNotFound
		}
		e.ExpiresAt = d.localTime(expires)
	}
	return e, nil
}

// parseMeta reads a versions hash field: "<version>" or
// "<version>:<expiry ms>"; none ("") is an entry written before versions.
func parseMeta(m string) (version string, expires int64) {
	if len(m) < 16 {
		return providers.LegacyVersion, 0
	}
	if len(m) > 17 {
		expires, _ = strconv.ParseInt(m[17:], 10, 64)
	}
	return m[:16], expires
}

// Put implements providers.Versioned and, with w.TTL, providers.Expiring.
func (d *Database) Put(ctx context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	if value == nil {
		value = []byte{}
	}
	if w.Condition.IsZero() && w.TTL <= 0 && d.mode != cluster {
		return d.plainPut(ctx, coll, key, value)
	}
	res, err := d.write(ctx, []providers.BatchOp{{Collection: coll, Key: key, Value: value, Condition: w.Condition, TTL: w.TTL}})
	if err != nil {
		return "", err
	}
	return res[0].Version, nil
}

// plainPut is a Put without condition or TTL on one node or Sentinel: it
// decides nothing, so it needs no script. Its writes (the value, a new
// version, the end of any expiry) and announcement go in one MULTI/EXEC,
// which costs Redis about two thirds of the CPU of the script (measured:
// 14-16 µs a write against 22-23). In a cluster it stays a script: go-redis retries a failed
// MULTI/EXEC there by scattering its commands over nodes.
func (d *Database) plainPut(ctx context.Context, coll, key string, value []byte) (string, error) {
	version := providers.FormatVersion(providers.NewVersion())
	hash := d.hashName(valuesKind, coll, 0)
	if d.minReplicas == 0 { // through the shared pipeline
		_, err := d.pipe.tx(ctx,
			[]any{"hset", hash, key, value},
			[]any{"hset", d.hashName(versionsKind, coll, 0), key, version},
			[]any{"zrem", d.hashName(expiryKind, coll, 0), key},
			[]any{"publish", d.feed.Channel, d.feed.message(coll, key)})
		if err != nil {
			return "", mapErr("database", err)
		}
		return version, nil
	}
	err := d.durably(ctx, hash, func(c commander) error {
		_, err := c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.HSet(ctx, hash, key, value)
			p.HSet(ctx, d.hashName(versionsKind, coll, 0), key, version)
			p.ZRem(ctx, d.hashName(expiryKind, coll, 0), key)
			p.Publish(ctx, d.feed.Channel, d.feed.message(coll, key))
			return nil
		})
		return err
	})
	if err != nil {
		return "", err
	}
	return version, nil
}

// Remove implements providers.Versioned.
func (d *Database) Remove(ctx context.Context, coll, key string, cond providers.Condition) (bool, error) {
	res, err := d.write(ctx, []providers.BatchOp{{Delete: true, Collection: coll, Key: key, Condition: cond}})
	if err != nil {
		return false, err
	}
	return res[0].Existed, nil
}

// Apply implements providers.Batcher: one script over every key of the
// batch. In a cluster that needs every key in one slot (see sameSlot).
func (d *Database) Apply(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	if err := providers.CheckBatch(ops); err != nil {
		return nil, err
	}
	if err := d.sameSlot(ops); err != nil {
		return nil, err
	}
	return d.write(ctx, ops)
}

// write runs writeScript for ops, with the min_replicas check.
func (d *Database) write(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	keys, args, res := d.writeArgs(ops)
	var reply []any
	var err error
	if d.minReplicas == 0 { // through the shared pipeline
		reply, err = runScript(ctx, d.pipe, writeScript, keys, args...).Slice()
		err = mapErr("database", err)
	} else {
		err = d.durably(ctx, keys[0], func(c commander) error {
			var err error
			reply, err = runScript(ctx, c, writeScript, keys, args...).Slice()
			return err
		})
	}
	if err == nil {
		err = writeReply(reply, res)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// writeArgs are the KEYS and ARGV of writeScript for ops, and their results
// but for Existed: the versions the puts will have.
func (d *Database) writeArgs(ops []providers.BatchOp) (keys []string, args []any, res []providers.BatchResult) {
	triple := map[string]int{} // values hash -> number of its triple
	args = make([]any, 0, 2+10*len(ops))
	args = append(args, d.feed.Channel, d.feed.ID+" ")
	res = make([]providers.BatchResult, len(ops))
	for i, op := range ops {
		b := d.bucketOf(op.Key)
		hash := d.hashName(valuesKind, op.Collection, b)
		n, ok := triple[hash]
		if !ok {
			keys = append(keys, hash, d.hashName(versionsKind, op.Collection, b), d.hashName(expiryKind, op.Collection, b))
			n = len(keys) / 3
			triple[hash] = n
		}
		if op.TTL > 0 && !op.Delete {
			d.sweep.note(keys[3*n-1])
		}
		flags := 0
		if op.MustExist {
			flags |= 1
		}
		if op.MustNotExist {
			flags |= 2
		}
		version, ttl, value := "", int64(0), op.Value
		if !op.Delete {
			version = providers.FormatVersion(providers.NewVersion())
			res[i].Version = version
			if op.TTL > 0 {
				ttl = max(op.TTL.Milliseconds(), 1)
			}
			if value == nil {
				value = []byte{}
			}
		}
		args = append(args, n, op.Collection, op.Key, flags, version, ttl, value, len(op.Match))
		for _, m := range op.Match {
			args = append(args, m)
		}
	}
	return keys, args, res
}

// writeReply reads writeScript's reply into res (Existed), or into the
// error of a failed condition.
func writeReply(reply []any, res []providers.BatchResult) error {
	switch status, _ := reply[0].(int64); {
	case status == 0 && len(reply) == 4:
		op, _ := reply[1].(int64)
		exists, _ := reply[2].(int64)
		version, _ := reply[3].(string)
		pe := providers.Precondition(exists == 1, version).(*providers.PreconditionError)
		pe.Op = int(op) - 1
		return pe
	case status == 1 && len(reply) == len(res)+1:
		for i := range res {
			existed, _ := reply[i+1].(int64)
			res[i].Existed = existed == 1
		}
	case status != 2: // 2: a retry of an applied call
		return providers.Unavailable("database", fmt.Errorf("unexpected reply from the write script: %v", reply))
	}
	return nil
}

// sameSlot refuses a batch whose keys are in more than one slot of a
// cluster, where no script or MULTI can reach them all: nothing is written.
func (d *Database) sameSlot(ops []providers.BatchOp) error {
	if d.mode != cluster {
		return nil
	}
	first := d.bucket(ops[0].Collection, d.bucketOf(ops[0].Key))
	slot := redisslot.Of(first)
	for i, op := range ops[1:] {
		if redisslot.Of(d.bucket(op.Collection, d.bucketOf(op.Key))) == slot {
			continue
		}
		how := "give their keys one hash tag, a common text in braces (e.g. {order42}item1 and {order42}item2), so that they share a slot"
		if op.Collection != ops[0].Collection {
			how = "a batch across collections cannot be atomic there, as each collection's keys live in slots of their own: keep a batch to one collection, and " + how
		}
		return fmt.Errorf("%w: on Redis Cluster a batch is atomic only when all its keys are in one hash slot, and operation %d (%s/%s) is in another slot than operation 0 (%s/%s): %s",
			providers.ErrNotAtomic, i+1, op.Collection, op.Key, ops[0].Collection, ops[0].Key, how)
	}
	return nil
}

// BatchKeys implements providertest.KeyGrouper: in a cluster, n keys with
// one hash tag, which can share a batch; elsewhere any keys can.
func (d *Database) BatchKeys(_ string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		if d.mode == cluster {
			keys[i] = "{batch}" + keys[i]
		}
	}
	return keys
}
