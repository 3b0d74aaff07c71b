package redis

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func TestWalkCursorRoundTrip(t *testing.T) {
	for _, w := range []*walk{
		{},
		{start: 12},
		{start: 0, pending: []span{{end: 0, after: "k"}}},
		{start: 4, pending: []span{{end: 2, after: "a\x00b"}, {end: 6, after: ""}, {end: 0, after: "zz"}}},
	} {
		got, err := decodeWalk(w.encode())
		if err != nil {
			t.Fatalf("%+v: %v", w, err)
		}
		if got.start != w.start || len(got.pending) != len(w.pending) {
			t.Fatalf("round trip of %+v = %+v", w, got)
		}
		for i := range w.pending {
			if got.pending[i] != w.pending[i] {
				t.Fatalf("round trip of %+v = %+v", w, got)
			}
		}
	}
}

func TestWalkCursorMalformed(t *testing.T) {
	enc := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	for _, c := range []string{
		"!!", enc(9, 0), // not base64, unknown version
		enc(walkVersion),                // no start
		enc(walkVersion, 4, 2, 5, 'a'),  // key shorter than its length
		enc(walkVersion, 4, 4, 0),       // span ending where it starts
		enc(walkVersion, 4, 6, 0, 2, 0), // spans out of walk order (6 before 2)
		enc(walkVersion, 4, 0, 0, 6, 0), // a span after the one that runs to the end
	} {
		if _, err := decodeWalk(c); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("decodeWalk(%q) = %v, want ErrInvalid", c, err)
		}
	}
}

// TestWalkMark checks where an HSCAN COUNT 1 batch is placed against the
// partly returned spans.
func TestWalkMark(t *testing.T) {
	// Cursors of a 16-bucket table in walk order: 0, 8, 4, 12, 2, 10, ...
	w := &walk{start: 8, pending: []span{{end: 12, after: "m"}, {end: 10, after: "c"}}}
	cases := []struct {
		next   uint64
		mark   string
		marked bool
	}{
		{4, "m", true},  // inside the first span
		{12, "m", true}, // ends exactly where the first span ends
		{10, "c", true}, // crossed the first span's end over empty buckets; 10 is as fine as 12: exact
		{6, "", false},  // past every span
		{0, "", false},  // to the end of the walk
		// 2 is a coarser cursor than the crossed end 12: the bucket may
		// straddle it, so the lower of the two marks applies.
		{2, "c", true},
	}
	for _, c := range cases {
		if mark, marked := w.mark(c.next); mark != c.mark || marked != c.marked {
			t.Errorf("mark(%d) = %q, %v; want %q, %v", c.next, mark, marked, c.mark, c.marked)
		}
	}
	w = &walk{start: 8, pending: []span{{end: 12, after: "c"}, {end: 10, after: "m"}}}
	if mark, marked := w.mark(10); mark != "m" || !marked {
		t.Errorf("exact placement: mark = %q, %v; want m", mark, marked)
	}
	if mark, marked := w.mark(2); mark != "c" || !marked {
		t.Errorf("uncertain placement: mark = %q, %v; want the lower, c", mark, marked)
	}
	// A table that shrank: a cursor of a 4-bucket table (bit length 2)
	// cannot tell on which side of a 16-bucket span end (bit length 4) its
	// bucket lies, so the lowest mark applies.
	w = &walk{start: 0, pending: []span{{end: 12, after: "m"}, {end: 0, after: "c"}}}
	if mark, marked := w.mark(2); mark != "c" || !marked {
		t.Errorf("shrunk table: mark = %q, %v; want the lowest, c", mark, marked)
	}
	w = &walk{start: 0, pending: []span{{end: 12, after: "c"}, {end: 0, after: "m"}}}
	if mark, marked := w.mark(2); mark != "c" || !marked {
		t.Errorf("shrunk table: mark = %q, %v; want the lowest, c", mark, marked)
	}
}
