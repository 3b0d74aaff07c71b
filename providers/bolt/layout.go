package bolt

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"sync"

	bbolt "go.etcd.io/bbolt"

	"github.com/navius-dev/navius/providers"
)

// The file's layout. navius before versions wrote only the first part, and
// this one reads such a file as it is, without a migration:
//
//   - One top-level bucket per collection, holding key -> value, the value
//     exactly as written. Nothing else goes in it.
//   - A top-level bucket named "\x00meta" (metaName) holding a record per
//     key: record key (collection length, 2 bytes big-endian; collection;
//     key) -> 20 bytes: the version (uint64, big-endian, from
//     providers.NewVersion), the expiry time (Unix nanoseconds, int64
//     big-endian, 0 = none) and the CRC-32C of the value it describes. A
//     key without a record is an entry written before versions: it has
//     providers.LegacyVersion and no expiry.
//   - A top-level bucket named "\x00expiry" (expiryName), the expiry index
//     Sweep walks soonest first: expiry time (8 bytes big-endian) + record
//     key -> version. It holds one entry per record with an expiry time.
//
// Records live beside the collections rather than inside them so that a
// read looks a record up without a second descent of the collection's
// tree, and so that an older navius finds its collections exactly as it
// left them: it lists and deletes as before, dropping a collection with
// its last key, and never looks at the buckets named with a NUL byte
// (collection names cannot start with one).
//
// The checksum is there for an older navius opened on the same file (a
// rollback): it writes and deletes values without touching their records.
// A record whose checksum does not match its value is stale, and the value
// is read as a legacy entry, rather than with an old version that a
// client's If-Match would match, or an old expiry that would drop a value
// written for good. Sweep drops such records when their expiry comes.
var (
	metaName   = []byte("\x00meta")
	expiryName = []byte("\x00expiry")
)

const recordLen = 20

// record is a key's metadata.
type record struct {
	version   uint64
	expiresAt int64 // Unix nanoseconds; 0: never
	sum       uint32
}

func (r record) encode() []byte {
	b := make([]byte, recordLen)
	binary.BigEndian.PutUint64(b, r.version)
	binary.BigEndian.PutUint64(b[8:], uint64(r.expiresAt))
	binary.BigEndian.PutUint32(b[16:], r.sum)
	return b
}

// decodeRecord reads a stored record; ok is false when there is none (or
// it is not one this navius wrote).
func decodeRecord(b []byte) (r record, ok bool) {
	if len(b) != recordLen {
		return record{}, false
	}
	return record{
		version:   binary.BigEndian.Uint64(b),
		expiresAt: int64(binary.BigEndian.Uint64(b[8:])),
		sum:       binary.BigEndian.Uint32(b[16:]),
	}, true
}

// castagnoli is made on first use, not at start-up: CRC-32C runs in
// hardware on amd64 and arm64.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

func checksum(value []byte) uint32 { return crc32.Checksum(value, castagnoli()) }

// appendRecordKey appends the record key of coll/key to b.
func appendRecordKey(b, coll, key []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(coll)))
	return append(append(b, coll...), key...)
}

// indexKey is a record's key in the expiry index.
func indexKey(expiresAt int64, coll, key []byte) []byte {
	b := make([]byte, 8, 10+len(coll)+len(key))
	binary.BigEndian.PutUint64(b, uint64(expiresAt))
	return appendRecordKey(b, coll, key)
}

// parseRecordKey reverses appendRecordKey; ok is false for a key it did
// not make.
func parseRecordKey(b []byte) (coll, key []byte, ok bool) {
	if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
		return nil, nil, false
	}
	n := 2 + int(binary.BigEndian.Uint16(b))
	return b[2:n], b[n:], true
}

// parseIndexKey reads an entry of the expiry index; ok is false for one
// this navius did not make.
func parseIndexKey(k, v []byte) (expiresAt int64, coll, key []byte, version uint64, ok bool) {
	if len(k) < 8 || len(v) != 8 {
		return 0, nil, nil, 0, false
	}
	coll, key, ok = parseRecordKey(k[8:])
	return int64(binary.BigEndian.Uint64(k)), coll, key, binary.BigEndian.Uint64(v), ok
}

// checkNames refuses the names the layout reserves: collections starting
// with a NUL byte. Collection names are at most 65535 bytes long for the
// record keys (bbolt's own limit on keys is 32768).
func checkNames(coll string) error {
	if len(coll) > 0 && coll[0] == 0 {
		return providers.Invalid("collection %q: names starting with a NUL byte are reserved for the bolt provider's metadata", coll)
	}
	return nil
}

// slot is a key as a transaction finds it.
type slot struct {
	coll   *bbolt.Bucket // nil: no such collection
	key    []byte
	value  []byte // nil: no value
	rec    record // the stored record, trusted or not
	hasRec bool   // a record is stored (looked up only for a value)
}

// lookup reads coll/key in tx.
func lookup(tx *bbolt.Tx, coll, key []byte) slot {
	s := slot{coll: tx.Bucket(coll), key: key}
	if s.coll == nil {
		return s
	}
	if s.value = s.coll.Get(key); s.value == nil {
		return s
	}
	if meta := tx.Bucket(metaName); meta != nil {
		var buf [96]byte // most record keys fit: no allocation
		s.rec, s.hasRec = decodeRecord(meta.Get(appendRecordKey(buf[:0], coll, key)))
	}
	return s
}

// state is what readers see of the slot at now: whether the entry exists
// (an expired one does not), its version and its expiry time.
func (s slot) state(now int64) (exists bool, version uint64, expiresAt int64) {
	switch {
	case s.value == nil:
		return false, 0, 0
	case !s.hasRec || s.rec.sum != checksum(s.value): // legacy, or rewritten by an older navius
		return true, 0, 0
	case s.rec.expiresAt != 0 && s.rec.expiresAt <= now:
		return false, 0, 0
	}
	return true, s.rec.version, s.rec.expiresAt
}

// check decides cond on the slot at now; a failed condition is a
// *providers.PreconditionError.
func (s slot) check(cond providers.Condition, now int64) error {
	if cond.IsZero() {
		return nil
	}
	exists, v, _ := s.state(now)
	version := ""
	if exists {
		version = providers.FormatVersion(v)
	}
	if !cond.Holds(exists, version) {
		return providers.Precondition(exists, version)
	}
	return nil
}

// put writes value into the slot's key of collection coll with a new
// version and, when expiresAt is not 0, that expiry time, replacing
// whatever was there; it returns the version.
func (s slot) put(tx *bbolt.Tx, coll []byte, value []byte, expiresAt int64) (uint64, error) {
	b := s.coll
	if b == nil {
		var err error
		if b, err = tx.CreateBucket(coll); err != nil {
			return 0, err
		}
	}
	meta, err := tx.CreateBucketIfNotExists(metaName)
	if err != nil {
		return 0, err
	}
	if err := s.unindex(tx, coll); err != nil {
		return 0, err
	}
	r := record{version: providers.NewVersion(), expiresAt: expiresAt, sum: checksum(value)}
	if err := b.Put(s.key, value); err != nil {
		return 0, err
	}
	// A key of its own: bbolt keeps a reference to it until the commit.
	if err := meta.Put(appendRecordKey(nil, coll, s.key), r.encode()); err != nil {
		return 0, err
	}
	if expiresAt != 0 {
		idx, err := tx.CreateBucketIfNotExists(expiryName)
		if err != nil {
			return 0, err
		}
		if err := idx.Put(indexKey(expiresAt, coll, s.key), binary.BigEndian.AppendUint64(nil, r.version)); err != nil {
			return 0, err
		}
	}
	return r.version, nil
}

// remove deletes the slot's value and record, and its collection when no
// other key is left, so that empty collections vanish as they do in the
// other providers.
func (s slot) remove(tx *bbolt.Tx, coll []byte) error {
	if s.value == nil {
		return nil
	}
	if s.hasRec {
		if err := s.unindex(tx, coll); err != nil {
			return err
		}
		if err := tx.Bucket(metaName).Delete(appendRecordKey(nil, coll, s.key)); err != nil {
			return err
		}
	}
	if err := s.coll.Delete(s.key); err != nil {
		return err
	}
	if k, _ := s.coll.Cursor().First(); k == nil {
		return tx.DeleteBucket(coll)
	}
	return nil
}

// unindex drops the slot's record from the expiry index.
func (s slot) unindex(tx *bbolt.Tx, coll []byte) error {
	if !s.hasRec || s.rec.expiresAt == 0 {
		return nil
	}
	if idx := tx.Bucket(expiryName); idx != nil {
		return idx.Delete(indexKey(s.rec.expiresAt, coll, s.key))
	}
	return nil
}

// records walks a collection's records in key order beside a walk of its
// values, so that a page costs one seek into the records, not one a key.
type records struct {
	c      *bbolt.Cursor // nil: no records
	prefix []byte        // the collection's part of a record key
	k, v   []byte        // where c is, the prefix cut off k
	at     bool          // c is positioned
}

func recordCursor(tx *bbolt.Tx, coll []byte) *records {
	r := &records{prefix: appendRecordKey(nil, coll, nil)}
	if meta := tx.Bucket(metaName); meta != nil {
		r.c = meta.Cursor()
	}
	return r
}

// find returns the record of key; keys must come in ascending order.
func (r *records) find(key []byte) (record, bool) {
	if r.c == nil {
		return record{}, false
	}
	if !r.at {
		r.set(r.c.Seek(append(r.prefix[:len(r.prefix):len(r.prefix)], key...)))
		r.at = true
	}
	for r.k != nil && bytes.Compare(r.k, key) < 0 {
		r.set(r.c.Next())
	}
	if r.k == nil || !bytes.Equal(r.k, key) {
		return record{}, false
	}
	return decodeRecord(r.v)
}

// set moves the walk to the record key k: past the collection's records
// when it is another's.
func (r *records) set(k, v []byte) {
	r.k, r.v = nil, nil
	if bytes.HasPrefix(k, r.prefix) {
		r.k, r.v = k[len(r.prefix):], v
	}
}
