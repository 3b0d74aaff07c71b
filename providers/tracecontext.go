package providers

import (
	"encoding/hex"
	"strings"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/) header names.
const (
	TraceparentHeader = "traceparent"
	TracestateHeader  = "tracestate"
)

// String renders the ID as 32 lower-case hex digits.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// String renders the ID as 16 lower-case hex digits.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// Traceparent renders the context as a version-00 traceparent header value:
// 00-<trace-id>-<span-id>-<flags>.
func (sc SpanContext) Traceparent() string {
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], sc.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], sc.SpanID[:])
	b[52] = '-'
	b[53] = '0'
	b[54] = '0'
	if sc.Sampled {
		b[54] = '1'
	}
	return string(b[:])
}

// ParseTraceparent parses a traceparent header value. The span ID it carries
// (the caller's span) becomes SpanID of the result, which is marked Remote.
// It follows the spec's rules: lower-case hex only, version ff invalid,
// all-zero IDs invalid, and a future version may append fields after a dash.
func ParseTraceparent(v string) (SpanContext, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return SpanContext{}, false
	}
	version, ok := lowerHex(v[0:2])
	if !ok || version[0] == 0xff {
		return SpanContext{}, false
	}
	if version[0] == 0 && len(v) != 55 {
		return SpanContext{}, false
	}
	if len(v) > 55 && v[55] != '-' {
		return SpanContext{}, false
	}
	var sc SpanContext
	tid, ok1 := lowerHex(v[3:35])
	sid, ok2 := lowerHex(v[36:52])
	flags, ok3 := lowerHex(v[53:55])
	if !ok1 || !ok2 || !ok3 {
		return SpanContext{}, false
	}
	copy(sc.TraceID[:], tid)
	copy(sc.SpanID[:], sid)
	if !sc.IsValid() {
		return SpanContext{}, false
	}
	sc.Sampled = flags[0]&1 == 1
	sc.Remote = true
	return sc, true
}

func lowerHex(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}
