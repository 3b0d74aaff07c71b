package redis

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"

	"github.com/navius-dev/navius/providers"
)

// Query walks a collection's hash with HSCAN, never KEYS.
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
func (d *Database) Query(ctx context.Context, coll string, q providers.Query) (providers.Page, error) {
	w, err := decodeWalk(q.Cursor)
	if err != nil {
		return providers.Page{}, err
	}
	limit := q.EffectiveLimit()
	count := int64(min(max(limit, 64), 512))
	budget := max(20*limit, 10_000) // fields examined per page: bounds the work of a filter that rarely matches
	hash := d.hash(coll)
	var page providers.Page
	fine := false // re-reading a partly returned span bucket by bucket
	for {
		n := count
		if fine && len(w.pending) > 0 {
			n = 1
		}
		kv, next, err := d.client.HScan(ctx, hash, w.start, "", n).Result()
		if err != nil {
			return providers.Page{}, mapErr("database", err)
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
		batch := make([]providers.Item, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			if (!marked || kv[i] > mark) && strings.Contains(kv[i+1], q.Filter) {
				batch = append(batch, providers.Item{Key: kv[i], Value: []byte(kv[i+1])})
			}
		}
		slices.SortFunc(batch, func(a, b providers.Item) int { return strings.Compare(a.Key, b.Key) })
		for _, it := range batch {
			if len(page.Items) == limit {
				// More of this batch to come: the next page resumes it.
				page.NextCursor = w.split(next, page.Items[limit-1].Key).encode()
				return page, nil
			}
			page.Items = append(page.Items, it)
		}
		w.advance(next)
		if next == 0 {
			return page, nil
		}
		if len(page.Items) == limit || budget <= 0 {
			page.NextCursor = w.encode()
			return page, nil
		}
	}
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

const walkVersion = 1

func (w *walk) encode() string {
	b := []byte{walkVersion}
	b = binary.AppendUvarint(b, w.start)
	for _, s := range w.pending {
		b = binary.AppendUvarint(b, s.end)
		b = binary.AppendUvarint(b, uint64(len(s.after)))
		b = append(b, s.after...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeWalk(c string) (*walk, error) {
	w := &walk{}
	if c == "" {
		return w, nil
	}
	bad := providers.Invalid("malformed cursor %q: pass back the next_cursor of the previous page", c)
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 || b[0] != walkVersion {
		return nil, bad
	}
	r := bytes.NewReader(b[1:])
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
