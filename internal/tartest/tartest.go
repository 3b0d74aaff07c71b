// Package tartest reads tar streams back in tests: the release archives,
// image archives and image layers navius writes.
package tartest

import (
	"archive/tar"
	"io"
	"testing"
)

// Each calls fn with every entry of the tar stream r, in order, and its
// content; a stream that cannot be read fails t.
func Each(t testing.TB, r io.Reader, fn func(h *tar.Header, data []byte)) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(h, data)
	}
}
