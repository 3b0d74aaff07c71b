package gzipbody

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// Each body comes back whole from a compressor used again and again, and
// an earlier result is not overwritten by a later one.
func TestCompressReused(t *testing.T) {
	var c Compressor
	bodies := [][]byte{[]byte("first body"), bytes.Repeat([]byte("a longer second body "), 500), nil}
	var zipped [][]byte
	for _, b := range bodies {
		zipped = append(zipped, c.Compress(b))
	}
	for i, z := range zipped {
		r, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, bodies[i]) {
			t.Fatalf("body %d: %q, %v; want %q", i, got, err, bodies[i])
		}
	}
}
