package splunk

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/navius-dev/navius/providers"
)

// Paths of the HEC endpoints under the base URL.
const (
	EventPath  = "/services/collector/event"
	AckPath    = "/services/collector/ack"
	HealthPath = "/services/collector/health"
)

// codeMeanings are HEC's reply codes.
var codeMeanings = map[int]string{
	0:  "success",
	1:  "token disabled",
	2:  "token is required",
	3:  "invalid authorization",
	4:  "invalid token",
	5:  "no data",
	6:  "invalid data format",
	7:  "incorrect index",
	8:  "internal server error",
	9:  "server is busy",
	10: "data channel is missing",
	11: "invalid data channel",
	12: "event field is required",
	13: "event field cannot be blank",
	14: "ACK is disabled",
	15: "error in handling indexed fields",
	16: "query string authorization is not enabled",
	17: "HEC is healthy",
	18: "HEC is unhealthy, queues are full",
	19: "HEC is unhealthy, ack service unavailable",
	20: "HEC is unhealthy, queues are full, ack service unavailable",
}

// Meaning returns what an HEC reply code means.
func Meaning(code int) string {
	if m, ok := codeMeanings[code]; ok {
		return m
	}
	return "unknown code"
}

// hint says what to do about a permanent rejection.
func hint(status, code int) string {
	switch {
	case code >= 1 && code <= 4, code < 0 && (status == http.StatusUnauthorized || status == http.StatusForbidden):
		return "check splunk.token (NAVIUS_SPLUNK_TOKEN): the token is missing, wrong or disabled"
	case code == 7:
		return "check splunk.index: the token must be allowed to write to it"
	case code == 10, code == 11, code == 14:
		return "set splunk.ack to match the token's indexer acknowledgement setting"
	case code == 16:
		return "HEC wants the token in the Authorization header, which navius sends; check the endpoint"
	case status == http.StatusNotFound:
		return "check splunk.endpoint: it must be the HEC base URL, e.g. https://splunk.example.com:8088"
	}
	return "the batch was dropped; this is likely a navius bug, please report it"
}

// reply is HEC's JSON answer.
type reply struct {
	Text  string `json:"text"`
	Code  *int   `json:"code"`
	AckID *int64 `json:"ackId"`
}

// parseReply reads an HEC answer; code is -1 when the body carries none.
func parseReply(body []byte) (r reply, code int) {
	if json.Unmarshal(body, &r) != nil || r.Code == nil {
		return r, -1
	}
	return r, *r.Code
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// transient tells whether an HTTP status is worth retrying.
func transient(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// describeStatus renders "HTTP 503, HEC code 9 (server is busy)".
func describeStatus(status, code int) string {
	s := fmt.Sprintf("HTTP %d", status)
	if code >= 0 {
		s += fmt.Sprintf(", HEC code %d (%s)", code, Meaning(code))
	} else {
		s += " (" + http.StatusText(status) + ", no HEC code in the reply)"
	}
	return s
}

// encoder renders log entries as HEC event objects. The metadata part is
// rendered once.
type encoder struct {
	meta []byte // ,"host":..,"source":..,"sourcetype":..,"index":..
}

func newEncoder(c Config) *encoder {
	var b []byte
	for _, kv := range [][2]string{{"host", c.Host}, {"source", c.Source}, {"sourcetype", c.SourceType}, {"index", c.Index}} {
		if kv[1] == "" {
			continue
		}
		b = append(b, ',')
		b = appendString(b, kv[0])
		b = append(b, ':')
		b = appendString(b, kv[1])
	}
	return &encoder{meta: b}
}

// reserved event keys; fields with these names get a "field_" prefix.
var reserved = map[string]bool{"message": true, "level": true, "component": true, "correlation_id": true}

// encode renders one event:
//
//	{"time":1700000000.123456,"host":..,"source":..,"sourcetype":..,"index":..,
//	 "event":{"message":..,"level":..,"component":..,"correlation_id":..,<fields>},
//	 "fields":{"level":..,"correlation_id":..,"component":..}}
func (enc *encoder) encode(b []byte, e *providers.LogEntry) []byte {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	b = append(b, `{"time":`...)
	b = strconv.AppendFloat(b, float64(t.UnixMicro())/1e6, 'f', 6, 64)
	b = append(b, enc.meta...)
	b = append(b, `,"event":{"message":`...)
	b = appendString(b, e.Message)
	b = append(b, `,"level":`...)
	b = appendString(b, e.Level.String())
	b = appendIfSet(b, `,"component":`, e.Source)
	b = appendIfSet(b, `,"correlation_id":`, e.CorrelationID)
	for k, v := range e.Fields {
		b = append(b, ',')
		if reserved[k] {
			k = "field_" + k
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, v)
	}
	b = append(b, `},"fields":{"level":`...)
	b = appendString(b, e.Level.String())
	b = appendIfSet(b, `,"correlation_id":`, e.CorrelationID)
	b = appendIfSet(b, `,"component":`, e.Source)
	return append(b, "}}"...)
}

// appendIfSet appends key, the JSON text that comes before the value
// (`,"name":`), and s as a JSON string, unless s is empty.
func appendIfSet(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint:
		return strconv.AppendUint(b, uint64(x), 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return appendString(b, strconv.FormatFloat(x, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case error:
		return appendString(b, x.Error())
	case fmt.Stringer:
		return appendString(b, x.String())
	}
	if j, err := json.Marshal(v); err == nil {
		return append(b, j...)
	}
	return appendString(b, fmt.Sprint(v))
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

var jsonUnmarshal = json.Unmarshal
