// Package gzipbody gzips the request bodies of the providers that send
// them compressed (splunk's HEC sink, dynatrace's OTLP export).
package gzipbody

import (
	"bytes"
	"compress/gzip"
)

// Compressor gzips whole bodies with one compressor, made at its first use
// and reset for each body after, at the fastest level (request bodies of
// logs and spans compress well at any level). It is for one goroutine: its
// owner's sender or export loop.
type Compressor struct {
	zw *gzip.Writer
}

// Compress returns p gzipped, in a buffer of its own.
func (c *Compressor) Compress(p []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(p) / 4)
	if c.zw == nil {
		c.zw, _ = gzip.NewWriterLevel(&out, gzip.BestSpeed)
	} else {
		c.zw.Reset(&out)
	}
	_, _ = c.zw.Write(p)
	_ = c.zw.Close()
	return out.Bytes()
}
