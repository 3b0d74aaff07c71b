package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"

	"github.com/navius-dev/navius/providers"
)

// writePage writes a list page as JSON, {"items":[{"key","etag","value"
// or "value_base64"}...],"next_cursor"}, item by item straight to the
// response: a page of server.max_page_bytes is held once
// (the items), not three times more as its encoding and the buffer it
// grows in. Binary values are base64-encoded as they are written.
func writePage(w http.ResponseWriter, page providers.Page) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	str := func(s string) { // as a JSON string
		buf.Reset()
		_ = enc.Encode(s)
		_, _ = w.Write(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
	}
	_, _ = io.WriteString(w, `{"items":[`)
	for i, it := range page.Items {
		if i > 0 {
			_, _ = io.WriteString(w, ",")
		}
		_, _ = io.WriteString(w, `{"key":`)
		str(it.Key)
		if it.Version != "" {
			_, _ = io.WriteString(w, `,"etag":`)
			str(quoteETag(it.Version))
		}
		if printable(it.Value) {
			_, _ = io.WriteString(w, `,"value":`)
			str(string(it.Value))
		} else {
			_, _ = io.WriteString(w, `,"value_base64":"`)
			b64 := base64.NewEncoder(base64.StdEncoding, w)
			_, _ = b64.Write(it.Value)
			_ = b64.Close()
			_, _ = io.WriteString(w, `"`)
		}
		_, _ = io.WriteString(w, "}")
	}
	_, _ = io.WriteString(w, "]")
	if page.NextCursor != "" {
		_, _ = io.WriteString(w, `,"next_cursor":`)
		str(page.NextCursor)
	}
	_, _ = io.WriteString(w, "}\n")
}
