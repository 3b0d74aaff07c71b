package bolt

import (
	"bytes"
	"context"
	"errors"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/navius-dev/navius/providers"
)

// Every optional capability: versions, expiry by the local clock (the
// process owns the file) and atomic batches, with sweeps that name what
// they remove (for watchers). See layout.go for where each lives in the
// file.
var (
	_ providers.Versioned = (*Database)(nil)
	_ providers.Expiring  = (*Database)(nil)
	_ providers.Batcher   = (*Database)(nil)

	_ providers.ExpiryReporter = (*Database)(nil)
)

// Writes run under bbolt's Batch (see update), which may run a function
// more than once: each function below decides its conditions against the
// transaction it is given, and sets what it reports afresh.

func (d *Database) Get(ctx context.Context, coll, key string) ([]byte, error) {
	e, err := d.GetEntry(ctx, coll, key)
	return e.Value, err
}

// GetEntry implements providers.Versioned.
func (d *Database) GetEntry(ctx context.Context, coll, key string) (providers.Entry, error) {
	if err := ctx.Err(); err != nil {
		return providers.Entry{}, err
	}
	if err := checkNames(coll); err != nil {
		return providers.Entry{}, err
	}
	now := time.Now().UnixNano()
	var out providers.Entry
	err := d.db.View(func(tx *bbolt.Tx) error {
		s := lookup(tx, []byte(coll), []byte(key))
		exists, version, expiresAt := s.state(now)
		if !exists {
			return providers.ErrNotFound
		}
		out.Value = bytes.Clone(s.value) // s.value is valid only inside the transaction
		out.Version = providers.FormatVersion(version)
		if expiresAt != 0 {
			out.ExpiresAt = time.Unix(0, expiresAt)
		}
		return nil
	})
	if err != nil {
		return providers.Entry{}, mapErr(err)
	}
	return out, nil
}

func (d *Database) Set(ctx context.Context, coll, key string, value []byte) error {
	_, err := d.Put(ctx, coll, key, value, providers.Write{})
	return err
}

// Put implements providers.Versioned and, with w.TTL, providers.Expiring.
func (d *Database) Put(ctx context.Context, coll, key string, value []byte, w providers.Write) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkWrite(coll, key); err != nil {
		return "", err
	}
	if value == nil {
		value = []byte{}
	}
	var version uint64
	err := d.writeKey(coll, key, w.Condition, func(tx *bbolt.Tx, c []byte, s slot, now int64) (err error) {
		version, err = s.put(tx, c, value, expiry(now, w.TTL))
		return err
	})
	if err != nil {
		return "", err
	}
	return providers.FormatVersion(version), nil
}

func (d *Database) Delete(ctx context.Context, coll, key string) (bool, error) {
	return d.Remove(ctx, coll, key, providers.Condition{})
}

// Remove implements providers.Versioned.
func (d *Database) Remove(ctx context.Context, coll, key string, cond providers.Condition) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := checkNames(coll); err != nil {
		return false, err
	}
	var existed bool
	err := d.writeKey(coll, key, cond, func(tx *bbolt.Tx, c []byte, s slot, now int64) error {
		existed, _, _ = s.state(now) // an expired entry goes too, but did not exist
		return s.remove(tx, c)
	})
	return existed && err == nil, err
}

// writeKey runs write on coll/key in a write transaction, when cond holds
// there.
func (d *Database) writeKey(coll, key string, cond providers.Condition, write func(tx *bbolt.Tx, c []byte, s slot, now int64) error) error {
	c, k := []byte(coll), []byte(key)
	if !cond.IsZero() {
		if err := d.failsNow(func(tx *bbolt.Tx, now int64) error { return lookup(tx, c, k).check(cond, now) }); err != nil {
			return err
		}
	}
	return d.update(func(tx *bbolt.Tx) error {
		now := time.Now().UnixNano()
		s := lookup(tx, c, k)
		if err := s.check(cond, now); err != nil {
			return err
		}
		return write(tx, c, s, now)
	})
}

// Apply implements providers.Batcher: every condition is decided, then
// every operation applied, in one transaction. It goes through Batch like
// any write, so a batch shares its commit (and fsync) with concurrent
// writes; it is still all or nothing, since bbolt commits or rolls back
// the shared transaction as a whole, and runs it again without the
// function that failed.
func (d *Database) Apply(ctx context.Context, ops []providers.BatchOp) ([]providers.BatchResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := providers.CheckBatch(ops); err != nil {
		return nil, err
	}
	values := make([][]byte, len(ops))
	for i, op := range ops {
		if op.Delete {
			if err := checkNames(op.Collection); err != nil {
				return nil, err
			}
			continue
		}
		if err := checkWrite(op.Collection, op.Key); err != nil {
			return nil, err
		}
		if values[i] = op.Value; values[i] == nil {
			values[i] = []byte{}
		}
	}
	check := func(tx *bbolt.Tx, now int64) error {
		for i, op := range ops {
			if err := lookup(tx, []byte(op.Collection), []byte(op.Key)).check(op.Condition, now); err != nil {
				err.(*providers.PreconditionError).Op = i
				return err
			}
		}
		return nil
	}
	for _, op := range ops {
		if !op.Condition.IsZero() {
			if err := d.failsNow(check); err != nil {
				return nil, err
			}
			break
		}
	}
	var res []providers.BatchResult
	err := d.update(func(tx *bbolt.Tx) error {
		now := time.Now().UnixNano()
		if err := check(tx, now); err != nil {
			return err
		}
		res = make([]providers.BatchResult, len(ops))
		// Each operation looks its key up again: an earlier one may have
		// created or dropped its collection.
		for i, op := range ops {
			c := []byte(op.Collection)
			s := lookup(tx, c, []byte(op.Key))
			var err error
			if op.Delete {
				res[i].Existed, _, _ = s.state(now)
				err = s.remove(tx, c)
			} else {
				var v uint64
				v, err = s.put(tx, c, values[i], expiry(now, op.TTL))
				res[i].Version = providers.FormatVersion(v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// failsNow decides a write's conditions on a snapshot before the write
// transaction, and returns the failure it finds there. A failed
// conditional write writes nothing, so it may as well take effect at that
// moment as at its turn in a write transaction: a losing compare-and-swap
// need not wait for a commit (and its fsync). Conditions that hold are
// decided again by the write.
func (d *Database) failsNow(check func(tx *bbolt.Tx, now int64) error) error {
	err := d.db.View(func(tx *bbolt.Tx) error { return check(tx, time.Now().UnixNano()) })
	if errors.Is(err, providers.ErrPrecondition) {
		return err
	}
	return nil // anything else is for the write to report
}

// Sweep implements providers.Expiring: it removes up to limit expired
// entries, soonest first, in one transaction. It looks at no more than
// 2×limit entries of the expiry index, so that a pass is bounded work
// even among index entries left stale by an older navius's writes.
func (d *Database) Sweep(ctx context.Context, limit int) (int, error) {
	return d.SweepKeys(ctx, limit, nil)
}

// SweepKeys implements providers.ExpiryReporter: Sweep, naming each entry
// it removed once the transaction has committed.
func (d *Database) SweepKeys(ctx context.Context, limit int, removed func(collection, key string)) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// Most passes find nothing due: they take no write transaction, whose
	// commit would cost an fsync.
	due := false
	err := d.db.View(func(tx *bbolt.Tx) error {
		if idx := tx.Bucket(expiryName); idx != nil {
			k, v := idx.Cursor().First()
			at, _, _, _, ok := parseIndexKey(k, v)
			due = k != nil && (!ok || at <= time.Now().UnixNano())
		}
		return nil
	})
	if err != nil || !due {
		return 0, mapErr(err)
	}
	var gone [][2]string
	err = d.db.Update(func(tx *bbolt.Tx) error {
		gone = gone[:0]
		idx := tx.Bucket(expiryName)
		if idx == nil {
			return nil
		}
		now := time.Now().UnixNano()
		for visited := 0; len(gone) < limit && visited < 2*limit; visited++ {
			// From the first entry each time: the one before is deleted,
			// and a cursor may skip a key after a delete.
			k, v := idx.Cursor().First()
			if k == nil {
				break
			}
			k = bytes.Clone(k)
			at, coll, key, version, ok := parseIndexKey(k, v) // before the delete: v lives in the page
			if ok && at > now {
				break
			}
			if err := idx.Delete(k); err != nil {
				return err
			}
			if !ok {
				continue
			}
			swept, err := sweepOne(tx, at, coll, key, version)
			if err != nil {
				return err
			}
			if swept {
				gone = append(gone, [2]string{string(coll), string(key)})
			}
		}
		return nil
	})
	if err != nil {
		return 0, mapErr(err)
	}
	if removed != nil {
		for _, ck := range gone {
			removed(ck[0], ck[1])
		}
	}
	return len(gone), nil
}

// sweepOne removes coll/key, whose entry in the expiry index said it
// expires at with version, and reports whether it removed an entry. Only
// the write that made the index entry expires: a later one replaced the
// record (and its index entry). A record an older navius left stale goes,
// and the value it rewrote stays, without expiry.
func sweepOne(tx *bbolt.Tx, at int64, coll, key []byte, version uint64) (bool, error) {
	meta := tx.Bucket(metaName)
	if meta == nil {
		return false, nil
	}
	rk := appendRecordKey(nil, coll, key)
	rec, ok := decodeRecord(meta.Get(rk))
	if !ok || rec.expiresAt != at || rec.version != version {
		return false, nil
	}
	s := slot{coll: tx.Bucket(coll), key: key, rec: rec, hasRec: true}
	if s.coll != nil {
		s.value = s.coll.Get(key)
	}
	if s.value == nil || s.rec.sum != checksum(s.value) {
		return false, meta.Delete(rk)
	}
	return true, s.remove(tx, coll)
}

// queryChunk is how many keys a walk scans between looks at its context.
const queryChunk = 256

// Query walks the bucket in key order from just after the cursor's key,
// skipping expired entries, checking ctx as it goes; q.MaxBytes ends a
// page early.
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	if err := ctx.Err(); err != nil {
		return providers.Page{}, err
	}
	if err := checkNames(coll); err != nil {
		return providers.Page{}, err
	}
	after, err := providers.DecodeKeyCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	filter := []byte(q.Filter)
	now := time.Now().UnixNano()
	var page providers.Page
	err = d.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(coll))
		if b == nil {
			return nil
		}
		records := recordCursor(tx, []byte(coll))
		c := b.Cursor()
		k, v := c.First()
		if q.Cursor != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		var size int64
		var read int // bytes of values looked through since ctx was checked
		for scanned := 1; k != nil; k, v = c.Next() {
			// A filter costs up to a few ms per MiB: large values are
			// checked by the MiB too, not only every queryChunk keys.
			if read += len(v); scanned%queryChunk == 0 || read > 1<<20 && len(filter) > 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				read = 0
			}
			scanned++
			if v == nil || !bytes.Contains(v, filter) { // v == nil: a nested bucket (none of navius's)
				continue
			}
			s := slot{value: v}
			s.rec, s.hasRec = records.find(k)
			exists, version, _ := s.state(now)
			if !exists {
				continue
			}
			n := int64(len(k) + len(v))
			if len(page.Items) == limit || (q.MaxBytes > 0 && len(page.Items) > 0 && size+n > q.MaxBytes) {
				// One more match exists: a cursor after the last item.
				page.NextCursor = providers.EncodeKeyCursor(page.Items[len(page.Items)-1].Key)
				break
			}
			size += n
			page.Items = append(page.Items, providers.Item{Key: string(k), Value: bytes.Clone(v), Version: providers.FormatVersion(version)})
		}
		return nil
	})
	if err != nil {
		return providers.Page{}, mapErr(err)
	}
	return page, nil
}

// checkWrite refuses what no write may name.
func checkWrite(coll, key string) error {
	if key == "" {
		return providers.Invalid("empty key")
	}
	return checkNames(coll)
}

// expiry is the expiry time of an entry written at now with ttl (0: none),
// in Unix nanoseconds; a TTL past the year 2262 ends there.
func expiry(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	if at := now + int64(ttl); at > now {
		return at
	}
	return math.MaxInt64
}
