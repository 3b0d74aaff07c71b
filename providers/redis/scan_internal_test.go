package redis

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// oneNode decodes cursors as a database on one node does.
var oneNode = &Database{conn: &conn{mode: single}, buckets: 1}

func TestWalkCursorRoundTrip(t *testing.T) {
	for _, w := range []*walk{
		{},
		{start: 12},
		{start: 0, pending: []span{{end: 0, after: "k"}}},
		{start: 4, pending: []span{{end: 2, after: "a\x00b"}, {end: 6, after: ""}, {end: 0, after: "zz"}}},
	} {
		c, err := oneNode.decodeCursor(w.encode())
		if err != nil {
			t.Fatalf("%+v: %v", w, err)
		}
		got := c.walk
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
	sealed := func(b ...byte) string { return seal(b) }
	for _, c := range []string{
		"!!", sealed(9, 0), // not base64, unknown version
		sealed(walkVersion),                // no start
		sealed(walkVersion, 4, 2, 5, 'a'),  // key shorter than its length
		sealed(walkVersion, 4, 4, 0),       // span ending where it starts
		sealed(walkVersion, 4, 6, 0, 2, 0), // spans out of walk order (6 before 2)
		sealed(walkVersion, 4, 0, 0, 6, 0), // a span after the one that runs to the end
		sealed(bucketVersion, 0, 0, 0),     // the form of another topology
	} {
		if _, err := oneNode.decodeCursor(c); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("decodeCursor(%q) = %v, want ErrInvalid", c, err)
		}
	}
}

// TestWalkCursorForged: a cursor whose structure is sound but that navius
// did not seal (made up by a client, or handed out before cursors carried
// a checksum) is refused, and so is a sealed one with its checksum
// mangled.
func TestWalkCursorForged(t *testing.T) {
	enc := func(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	w := &walk{start: 4, pending: []span{{end: 2, after: "k"}}}
	if _, err := oneNode.decodeCursor(w.encode()); err != nil {
		t.Fatalf("a sealed cursor: %v", err)
	}
	for _, c := range []string{
		enc(w.appendTo([]byte{walkVersion})...),   // well formed, no checksum
		enc(w.appendTo([]byte{bucketVersion})...), // well formed, no checksum
		w.encode()[:len(w.encode())-2] + "AA",     // checksum mangled
	} {
		if _, err := oneNode.decodeCursor(c); !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("decodeCursor(%q) = %v, want ErrInvalid", c, err)
		}
	}
	// The unsealed form of before asks for the walk to start again.
	for _, v := range []byte{unsealedWalkVersion, unsealedBucketVersion} {
		c := enc(w.appendTo([]byte{v})...)
		if _, err := oneNode.decodeCursor(c); !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "start the walk again") {
			t.Errorf("decodeCursor(%q) of before = %v, want ErrInvalid asking to start again", c, err)
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
