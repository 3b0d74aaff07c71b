package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/navius-dev/navius/providers"
)

// The file's layout. navius before versions wrote only the first part, and
// this one reads such a file as it is, without a migration:
//
//   - One top-level bucket per collection, holding key -> value, the value
//     exactly as written.
//   - In each collection bucket, a nested bucket named "\x00" (metaName)
//     holding key -> a 20-byte record: the version (uint64, big-endian,
//     from providers.NewVersion), the expiry time (Unix nanoseconds, int64
//     big-endian, 0 = none) and the CRC-32C of the value it describes. A
//     key without a record is an entry written before versions: it has
//     providers.LegacyVersion and no expiry.
//   - A top-level bucket named "\x00expiry" (expiryName), the expiry index
//     Sweep walks soonest first: expiry time (8 bytes big-endian) + length
//     of the collection name (2 bytes big-endian) + collection + key ->
//     version. It holds one entry per record with an expiry time.
//
// The checksum is there for an older navius opened on the same file (a
// rollback): it reads and lists values as before (nested buckets are not
// values to it), but it writes values without touching their records. A
// record whose checksum does not match its value is stale, and the value
// is read as a legacy entry, rather than with an old version that a
// client's If-Match would match, or an old expiry that would drop a value
// written for good.
//
// Collection names starting with a NUL byte and the key "\x00" are
// reserved for this (the HTTP API allows neither).
var (
	metaName   = []byte{0}
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

// indexKey is a record's key in the expiry index.
func indexKey(expiresAt int64, coll, key []byte) []byte {
	b := make([]byte, 10, 10+len(coll)+len(key))
	binary.BigEndian.PutUint64(b, uint64(expiresAt))
	binary.BigEndian.PutUint16(b[8:], uint16(len(coll)))
	return append(append(b, coll...), key...)
}

// parseIndexKey reverses indexKey; ok is false for a key it did not make.
func parseIndexKey(b []byte) (expiresAt int64, coll, key []byte, ok bool) {
	if len(b) < 10 {
		return 0, nil, nil, false
	}
	n := int(binary.BigEndian.Uint16(b[8:]))
	if len(b) < 10+n {
		return 0, nil, nil, false
	}
	return int64(binary.BigEndian.Uint64(b)), b[10 : 10+n], b[10+n:], true
}

// checkNames refuses the names the layout reserves. Collection names are
// at most 65535 bytes long for the index (bbolt's limit is 32768 anyway).
func checkNames(coll, key string) error {
	if len(coll) > 0 && coll[0] == 0 {
		return providers.Invalid("collection %q: names starting with a NUL byte are reserved for the bolt provider's metadata", coll)
	}
	if key == string(metaName) {
		return providers.Invalid("key %q is reserved for the bolt provider's metadata (it names the bucket of versions)", key)
	}
	return nil
}

// slot is a key as a transaction finds it.
type slot struct {
	coll   *bbolt.Bucket // nil: no such collection
	key    []byte
	value  []byte // nil: no value
	rec    record // the stored record, trusted or not
	hasRec bool
}

// lookup reads key from the collection bucket coll (nil: none).
func lookup(coll *bbolt.Bucket, key []byte) slot {
	s := slot{coll: coll, key: key}
	if coll == nil {
		return s
	}
	s.value = coll.Get(key)
	if meta := coll.Bucket(metaName); meta != nil {
		s.rec, s.hasRec = decodeRecord(meta.Get(key))
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
		if b, err = tx.CreateBucketIfNotExists(coll); err != nil {
			return 0, err
		}
	}
	meta, err := b.CreateBucketIfNotExists(metaName)
	if errors.Is(err, bolterrors.ErrIncompatibleValue) {
		return 0, providers.Invalid("collection %q holds a value under the key \"\\x00\" (written by a program other than navius), where the bolt provider keeps its versions: move that value elsewhere", coll)
	}
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
	if err := meta.Put(s.key, r.encode()); err != nil {
		return 0, err
	}
	if expiresAt != 0 {
		idx, err := tx.CreateBucketIfNotExists(expiryName)
		if err != nil {
			return 0, err
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], r.version)
		if err := idx.Put(indexKey(expiresAt, coll, s.key), v[:]); err != nil {
			return 0, err
		}
	}
	return r.version, nil
}

// remove deletes the slot's key, value and record, and its collection
// when no other key is left, so that empty collections vanish as they do
// in the other providers.
func (s slot) remove(tx *bbolt.Tx, coll []byte) error {
	if s.coll == nil || (s.value == nil && !s.hasRec) {
		return nil
	}
	if s.hasRec {
		if err := s.unindex(tx, coll); err != nil {
			return err
		}
		if err := s.coll.Bucket(metaName).Delete(s.key); err != nil {
			return err
		}
	}
	if s.value != nil {
		if err := s.coll.Delete(s.key); err != nil {
			return err
		}
	}
	if empty(s.coll) {
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

// empty reports whether a collection bucket holds no value: its metadata
// bucket, always its first key, does not count.
func empty(b *bbolt.Bucket) bool {
	c := b.Cursor()
	k, v := c.First()
	if k != nil && v == nil && bytes.Equal(k, metaName) {
		k, _ = c.Next()
	}
	return k == nil
}

// records walks a collection's records in key order beside a walk of its
// values, so that a page costs one seek into the records, not one a key.
type records struct {
	c    *bbolt.Cursor // nil: no records
	k, v []byte
	at   bool // c is positioned
}

func recordCursor(coll *bbolt.Bucket) *records {
	r := &records{}
	if meta := coll.Bucket(metaName); meta != nil {
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
		r.k, r.v = r.c.Seek(key)
		r.at = true
	}
	for r.k != nil && bytes.Compare(r.k, key) < 0 {
		r.k, r.v = r.c.Next()
	}
	if r.k == nil || !bytes.Equal(r.k, key) {
		return record{}, false
	}
	return decodeRecord(r.v)
}
