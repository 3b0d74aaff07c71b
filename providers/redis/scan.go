package redis

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius/providers"
)

// Query implements providers.Database (see query). A walk cut by ctx (its
// deadline reached as a socket timeout, say) fails with ctx's error, which
// navius answers with 503.
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	page, err := d.query(ctx, coll, q)
	if err != nil && ctx.Err() != nil {
		return providers.Page{}, ctx.Err()
	}
	return page, err
}

// query walks a collection's hash with HSCAN, never KEYS. Each batch's
// matches get their versions from the versions hash (one HMGET), which also
// drops those that have expired. A page ends at q.Limit items or, with
// q.MaxBytes, before the item that would pass that many bytes.
//
// HSCAN returns a hash in batches; a page can end in the middle of one,
// and between pages other clients may add and remove fields and Redis may
// grow (or shrink) the hash table, so that the same HSCAN cursor then
// returns a different batch. The cursor therefore carries, besides the
// HSCAN cursor to continue from, the spans of the walk that were returned
// in part: for each, where it ends and the greatest field returned from it
// (batches are returned in field order). Redis walks buckets in
// reverse-binary order of the cursor, an order that holds across table
// sizes, so a later batch can be placed against those spans:
//
//   - A batch that falls inside the first span (always so when nothing
//     changed) skips the fields up to that span's mark.
//   - Otherwise the span is re-read bucket by bucket (HSCAN COUNT 1, whose
//     fields all come from the one bucket where the call stopped) and each
//     bucket gets the mark of the span it lies in.
//   - Where that place is uncertain, because the table shrank under the walk
//     and one of its buckets now straddles a span's end, the lowest mark
//     applies: a field may then come twice, as with SCAN itself, but none is
//     ever skipped.
//
// So a walk returns every entry that exists throughout it exactly once,
// unless the hash shrinks to a fraction of its size mid-walk.
//
// In a cluster a collection is several bucket hashes (see Database), walked
// one after the other: the cursor also names the bucket. And where another
// node can take over the data (Sentinel, Cluster), an HSCAN cursor means
// nothing on the new master (each Redis process seeds its hash table
// differently), so the cursor also carries the run_id of the node that
// served the bucket so far, read along with each batch; when another node
// answers, the query fails asking for the walk to start again, rather than
// skipping keys.
func (d *Database) query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	cur, err := d.decodeCursor(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	count := int64(min(max(limit, 64), 512))
	budget := max(20*limit, 10_000) // fields examined per page: bounds the work of a filter that rarely matches
	hash := d.bucket(coll, cur.bucket)
	w := cur.walk
	page := &filling{limit: limit, maxBytes: q.MaxBytes}
	fine := false     // re-reading a partly returned span bucket by bucket
	perBucket := -1   // fields of the last bucket walked, to size a read-ahead; -1: none yet
	bucketFields := 0 // fields of the current bucket so far
	for {
		// Each round trip honours ctx too; this ends the walk between
		// them.
		if err := ctx.Err(); err != nil {
			return providers.Page{}, err
		}
		if perBucket >= 0 && len(w.pending) == 0 && w.start == 0 {
			// Between buckets, after a small one: read the next ones
			// whole, in one round trip.
			ahead := min(d.buckets-cur.bucket, (limit-len(page.Items))/max(perBucket, 1)+1)
			n, err := d.readAhead(ctx, coll, cur.bucket, ahead, count, q.Filter, page, &budget)
			if err != nil {
				return providers.Page{}, err
			}
			if cur.bucket += n; cur.bucket >= d.buckets {
				return page.Page, nil
			}
			hash, perBucket = d.bucket(coll, cur.bucket), -1
			if page.done() || budget <= 0 {
				page.NextCursor = d.encodeCursor(&cursor{bucket: cur.bucket, walk: w})
				return page.Page, nil
			}
		}
		n := count
		if fine && len(w.pending) > 0 {
			n = 1
		}
		kv, next, node, err := d.hscan(ctx, hash, w.start, n)
		if err != nil {
			return providers.Page{}, mapErr("database", err)
		}
		if cur.node == "" {
			cur.node = node
		} else if node != cur.node {
			return providers.Page{}, errNodeChanged
		}
		mark, marked := "", false
		if len(w.pending) > 0 {
			if n == 1 {
				mark, marked = w.mark(next)
			} else if endOf(next).after(endOf(w.pending[0].end)) {
				fine = true // the batch reaches past the first span: re-read it finely
				continue
			} else {
				mark, marked = w.pending[0].after, true
			}
		}
		budget -= len(kv) / 2
		bucketFields += len(kv) / 2
		items, err := matching(ctx, kv, mark, marked, q.Filter)
		if err != nil {
			return providers.Page{}, err
		}
		batch := [][]providers.Item{items}
		if err := d.versioned(ctx, coll, cur.bucket, batch, q.Filter); err != nil {
			return providers.Page{}, err
		}
		for i, it := range batch[0] {
			if !page.fits(batch[0][i : i+1]) {
				// More of this batch to come: the next page resumes it
				// after its last item, or reads it again when none of it
				// made this page (a byte bound).
				if i > 0 {
					cur.walk = w.split(next, batch[0][i-1].Key)
				} else {
					cur.walk = w
				}
				page.NextCursor = d.encodeCursor(cur)
				return page.Page, nil
			}
			page.add(it)
		}
		w.advance(next)
		if next == 0 { // this bucket is done
			if cur.bucket+1 >= d.buckets {
				return page.Page, nil
			}
			w = &walk{}
			cur = &cursor{bucket: cur.bucket + 1, walk: w}
			hash, fine = d.bucket(coll, cur.bucket), false
			perBucket, bucketFields = bucketFields, 0
		}
		if page.done() || budget <= 0 {
			cur.walk = w
			page.NextCursor = d.encodeCursor(cur)
			return page.Page, nil
		}
	}
}

// filling is a page being filled, with its bounds: limit items and, when
// maxBytes is positive, that many bytes of keys and values (a first item
// always fits).
type filling struct {
	providers.Page
	limit           int
	maxBytes, bytes int64
}

// fits reports whether items fit on the page after what it holds.
func (f *filling) fits(items []providers.Item) bool {
	n, b := len(f.Items), f.bytes
	for _, it := range items {
		size := int64(len(it.Key) + len(it.Value))
		if n == f.limit || f.maxBytes > 0 && n > 0 && b+size > f.maxBytes {
			return false
		}
		n, b = n+1, b+size
	}
	return true
}

func (f *filling) add(items ...providers.Item) {
	for _, it := range items {
		f.Items = append(f.Items, it)
		f.bytes += int64(len(it.Key) + len(it.Value))
	}
}

// done reports whether the page is full.
func (f *filling) done() bool {
	return len(f.Items) == f.limit || f.maxBytes > 0 && f.bytes >= f.maxBytes
}

// matching are the fields of an HSCAN batch after mark (when marked) whose
// value contains filter, in key order. A batch can hold many MiB, which a
// filter takes up to a few ms each to look through: ctx is checked every
// MiB.
func matching(ctx context.Context, kv []string, mark string, marked bool, filter string) ([]providers.Item, error) {
	batch := make([]providers.Item, 0, len(kv)/2)
	scanned := 0
	for i := 0; i+1 < len(kv); i += 2 {
		if scanned += len(kv[i+1]); scanned > 1<<20 && filter != "" {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			scanned = 0
		}
		if (!marked || kv[i] > mark) && strings.Contains(kv[i+1], filter) {
			batch = append(batch, providers.Item{Key: kv[i], Value: []byte(kv[i+1])})
		}
	}
	slices.SortFunc(batch, func(a, b providers.Item) int { return strings.Compare(a.Key, b.Key) })
	return batch, nil
}

// readAhead reads buckets from, from+1, ... (up to n of them) of a cluster
// collection in one pipeline, which go-redis sends to all masters at once,
// and adds to the page those that one HSCAN returned whole and that fit in
// it; it stops at the first that does not, which the caller then walks the
// usual way (a page may end inside it, so its node must be known). It
// returns how many buckets it used. A walk of a small collection thus
// takes two round trips (the values, then their versions) or a few more
// instead of two per bucket. A bucket read whole needs no node check: no
// cursor continues it.
func (d *Database) readAhead(ctx context.Context, coll string, from, n int, count int64, filter string, page *filling, budget *int) (int, error) {
	scans := make([]*goredis.ScanCmd, n)
	_, err := d.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range scans {
			scans[i] = p.HScan(ctx, d.bucket(coll, from+i), 0, "", count)
		}
		return nil
	})
	if err != nil {
		return 0, mapErr("database", err)
	}
	var whole [][]providers.Item // the matches of the buckets read whole, up to the first that was not
	for _, scan := range scans {
		kv, next := scan.Val()
		if next != 0 {
			break
		}
		items, err := matching(ctx, kv, "", false, filter)
		if err != nil {
			return 0, err
		}
		whole = append(whole, items)
	}
	if err := d.versioned(ctx, coll, from, whole, filter); err != nil {
		return 0, err
	}
	for i, items := range whole {
		if !page.fits(items) {
			return i, nil
		}
		page.add(items...)
		kv, _ := scans[i].Val()
		if *budget -= len(kv) / 2; page.done() || *budget <= 0 {
			return i + 1, nil
		}
	}
	return len(whole), nil
}

// versioned makes the items of buckets from, from+1, ... (groups[i] holds
// those of bucket from+i) what the database holds at one instant: each
// bucket's items are read again with their versions by readScript, in one
// pipelined round trip. An HSCAN batch and a later read of the versions
// could straddle a write or a sweep: an item would carry a version of
// another write, or an expired entry its legacy version. Items deleted
// since are dropped, so are those that expired and those whose value no
// longer contains filter.
func (d *Database) versioned(ctx context.Context, coll string, from int, groups [][]providers.Item, filter string) error {
	cmds := make([]*goredis.Cmd, len(groups))
	fields := make([][]any, len(groups))
	var all []goredis.Cmder
	for i, items := range groups {
		if len(items) == 0 {
			continue
		}
		for _, it := range items {
			fields[i] = append(fields[i], it.Key)
		}
		cmds[i] = readScript.cmd(ctx, d.readKeys(coll, from+i), fields[i])
		all = append(all, cmds[i])
	}
	if len(all) == 0 {
		return nil
	}
	_ = d.pipe.do(ctx, all...)
	for i, items := range groups {
		if cmds[i] == nil {
			continue
		}
		if goredis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") { // this node has not loaded it yet
			cmds[i] = runScript(ctx, d.pipe, readScript, d.readKeys(coll, from+i), fields[i]...)
		}
		r, err := readReplyOf(cmds[i], len(items))
		if err != nil {
			return err
		}
		live := items[:0]
		for j, it := range items {
			value, ok, meta := r.field(j)
			if !ok || filter != "" && !strings.Contains(value, filter) {
				continue
			}
			it.Value = []byte(value)
			var expires int64
			if it.Version, expires = parseMeta(meta); expires != 0 {
				gone, err := d.expired(ctx, d.bucket(coll, from+i), expires)
				if err != nil {
					return err
				}
				if gone {
					continue
				}
			}
			live = append(live, it)
		}
		groups[i] = live
	}
	return nil
}

var errNodeChanged = providers.Invalid("the cursor no longer applies: another Redis node (a promoted replica or a restarted server) now holds the part of the collection this walk was in, and its HSCAN order differs; start the walk again from the first page (no cursor)")

// hscan reads one HSCAN batch. Where another node can take over the data,
// it also returns the run_id of the node that answered, read on the same
// connection in the same round trip.
func (d *Database) hscan(ctx context.Context, hash string, start uint64, count int64) (kv []string, next uint64, node string, err error) {
	if d.mode == single {
		kv, next, err = d.client.HScan(ctx, hash, start, "", count).Result()
		return kv, next, "", err
	}
	m, err := d.masterFor(ctx, hash)
	if err != nil {
		return nil, 0, "", err
	}
	var scan *goredis.ScanCmd
	var info *goredis.StringCmd
	_, err = m.Pipelined(ctx, func(p goredis.Pipeliner) error {
		scan = p.HScan(ctx, hash, start, "", count)
		info = p.Info(ctx, "server")
		return nil
	})
	if err != nil {
		d.reload()
		return nil, 0, "", err
	}
	kv, next = scan.Val()
	if node = runID(info.Val()); node == "" {
		return nil, 0, "", errors.New("INFO server shows no run_id")
	}
	return kv, next, node, nil
}

// cursor is a query's position: the bucket being walked (always 0 outside a
// cluster), the run_id of the node that served it so far ("" before its
// first batch, and on one node, where nothing is checked), and the walk of
// the bucket's hash.
type cursor struct {
	bucket int
	node   string
	walk   *walk
}

// place is a position in HSCAN's walk: the cursor with its bits reversed
// grows through a walk whatever the table size; end is past the last bucket.
type place struct {
	r   uint64
	end bool
}

func startOf(cursor uint64) place { return place{r: bits.Reverse64(cursor)} }

// endOf places a cursor that ends a batch or a span: 0 there means the end.
func endOf(cursor uint64) place {
	if cursor == 0 {
		return place{end: true}
	}
	return place{r: bits.Reverse64(cursor)}
}

func (p place) after(o place) bool {
	switch {
	case p.end:
		return !o.end
	case o.end:
		return false
	}
	return p.r > o.r
}

// walk is a query's position: the HSCAN cursor to continue from and the
// spans after it that were returned in part, in walk order.
type walk struct {
	start   uint64
	pending []span
}

// span runs from the previous span's end (or the walk's start) to end (an
// HSCAN cursor; 0: the end of the walk); its fields up to after were
// returned already.
type span struct {
	end   uint64
	after string
}

// mark is the mark for the fields of an HSCAN COUNT 1 batch that ended at
// next: those fields come from the last bucket the call visited.
func (w *walk) mark(next uint64) (string, bool) {
	np := endOf(next)
	begin := startOf(w.start)
	exact := next != 0
	lowest, in := "", -1
	for i, s := range w.pending {
		if !np.after(begin) {
			break
		}
		if i == 0 || s.after < lowest {
			lowest = s.after
		}
		e := endOf(s.end)
		if !np.after(e) {
			in = i // the batch ends inside this span
			break
		}
		// The batch crosses this span's end. Buckets of the current table
		// cannot straddle it when the cursor is fine enough for this
		// table, which next (a cursor of this table) tells.
		if bits.Len64(s.end) > bits.Len64(next) {
			exact = false
		}
		begin = e
	}
	switch {
	case in < 0: // past every span: nothing of it was returned
		return "", false
	case exact:
		return w.pending[in].after, true
	}
	return lowest, true
}

// split is the walk after a page that ended inside the batch [start, next)
// at key: that batch becomes one span marked key.
func (w *walk) split(next uint64, key string) *walk {
	out := &walk{start: w.start, pending: []span{{end: next, after: key}}}
	np := endOf(next)
	for _, s := range w.pending {
		if endOf(s.end).after(np) {
			out.pending = append(out.pending, s)
		}
	}
	return out
}

// advance moves the walk past a batch that was returned whole.
func (w *walk) advance(next uint64) {
	np := endOf(next)
	i := 0
	for i < len(w.pending) && !endOf(w.pending[i].end).after(np) {
		i++
	}
	w.start, w.pending = next, w.pending[i:]
}

// Cursor versions: 3 is a walk of one hash on one node, 4 adds the bucket
// and the node, for Sentinel and Cluster. Both are sealed with a checksum
// (providers.EncodeKeyCursor, as the other engines' cursors are), so that a
// cursor a client makes up is refused rather than walked on from wherever
// it says. 1 and 2 were the same forms unsealed, from before.
const (
	walkVersion   = 3
	bucketVersion = 4

	unsealedWalkVersion   = 1
	unsealedBucketVersion = 2
)

func (w *walk) encode() string {
	return seal(w.appendTo([]byte{walkVersion}))
}

func (w *walk) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, w.start)
	for _, s := range w.pending {
		b = binary.AppendUvarint(b, s.end)
		b = binary.AppendUvarint(b, uint64(len(s.after)))
		b = append(b, s.after...)
	}
	return b
}

// encodeCursor is version 3 on one node, version 4 elsewhere.
func (d *Database) encodeCursor(c *cursor) string {
	if d.mode == single {
		return c.walk.encode()
	}
	b := []byte{bucketVersion}
	b = binary.AppendUvarint(b, uint64(c.bucket))
	b = binary.AppendUvarint(b, uint64(len(c.node)))
	b = append(b, c.node...)
	return seal(c.walk.appendTo(b))
}

// seal makes a cursor of b: base64 of b and its CRC-32.
func seal(b []byte) string { return providers.EncodeKeyCursor(string(b)) }

// unseal returns what seal sealed into c; a cursor whose checksum fails is
// malformed, or, in the unsealed form navius handed out before, from an
// earlier walk that has to start again.
func unseal(c string) ([]byte, error) {
	s, err := providers.DecodeKeyCursor(c)
	if err == nil {
		return []byte(s), nil
	}
	if b, _ := base64.RawURLEncoding.DecodeString(c); len(b) > 0 && (b[0] == unsealedWalkVersion || b[0] == unsealedBucketVersion) {
		return nil, errUnsealed
	}
	return nil, badCursor(c)
}

var errUnsealed = providers.Invalid("the cursor is of a form navius no longer accepts (made before cursors carried a checksum) or was made up: start the walk again from the first page (no cursor)")

func badCursor(c string) error {
	return providers.Invalid("malformed cursor %.40q: pass back the next_cursor of the previous page", c)
}

// decodeCursor reads a cursor of the form this topology writes.
func (d *Database) decodeCursor(c string) (*cursor, error) {
	if c == "" {
		return &cursor{walk: &walk{}}, nil
	}
	b, err := unseal(c)
	if err != nil {
		return nil, err
	}
	if b[0] != walkVersion && b[0] != bucketVersion {
		return nil, badCursor(c)
	}
	if (b[0] == walkVersion) != (d.mode == single) {
		return nil, providers.Invalid("the cursor comes from a walk on another Redis topology (one node, Sentinel or Cluster): start the walk again from the first page (no cursor)")
	}
	r := bytes.NewReader(b[1:])
	if b[0] == walkVersion {
		w, err := decodeWalkBody(r, c)
		return &cursor{walk: w}, err
	}
	bucket, err := binary.ReadUvarint(r)
	if err != nil || bucket >= uint64(d.buckets) {
		return nil, badCursor(c)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) || n > 64 {
		return nil, badCursor(c)
	}
	node := make([]byte, n)
	_, _ = r.Read(node)
	w, err := decodeWalkBody(r, c)
	if err != nil {
		return nil, err
	}
	if n == 0 && (w.start != 0 || len(w.pending) > 0) { // a walk under way has its node
		return nil, badCursor(c)
	}
	return &cursor{bucket: int(bucket), node: string(node), walk: w}, nil
}

func decodeWalkBody(r *bytes.Reader, c string) (*walk, error) {
	w := &walk{}
	bad := badCursor(c)
	var err error
	if w.start, err = binary.ReadUvarint(r); err != nil {
		return nil, bad
	}
	prev := startOf(w.start)
	for r.Len() > 0 {
		var s span
		if s.end, err = binary.ReadUvarint(r); err != nil {
			return nil, bad
		}
		n, err := binary.ReadUvarint(r)
		if err != nil || n > uint64(r.Len()) {
			return nil, bad
		}
		key := make([]byte, n)
		_, _ = r.Read(key)
		s.after = string(key)
		// Spans follow each other in walk order, and only the last may
		// run to the end.
		e := endOf(s.end)
		if prev.end || !e.after(prev) {
			return nil, bad
		}
		prev = e
		w.pending = append(w.pending, s)
	}
	return w, nil
}
