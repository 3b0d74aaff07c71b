package logging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// formatter appends access lines exactly as the console's logrus formatter
// (text without colours, or JSON) would write them, without its per-entry
// maps, sorting and buffers. Each writer has its own: it caches the
// formatted second of the last timestamp.
type formatter struct {
	json  bool
	stamp stamp
}

func (f *formatter) append(b []byte, r *Access) []byte {
	if f.json {
		return f.appendJSONLine(b, r)
	}
	return f.appendTextLine(b, r)
}

// fastFormatter returns the fast formatter for the service's console, or
// nil when it would not reproduce logrus's output byte for byte: it formats
// a probe line both ways and compares (the text formatter colours its
// output on a terminal, for instance, which only logrus does).
func fastFormatter(s *Service) *formatter {
	f := &formatter{json: s.format == "json"}
	probe := Access{Time: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), RequestID: "probe-1", Method: "GET",
		Path: "/a b/\"c\"", Remote: "127.0.0.1:1", Status: 200, Bytes: 12, Duration: 1500 * time.Microsecond}
	want, err := s.log.Formatter.Format(logrusEntry(&logrus.Entry{Logger: s.log}, &probe))
	if err != nil || !bytes.Equal(f.append(nil, &probe), want) {
		return nil
	}
	return f
}

// stamp formats times in timeFormat, reusing the formatted second of the
// previous time: within a second only the milliseconds change.
type stamp struct {
	sec        int64
	loc        *time.Location
	head, tail []byte // the second's text before and after ".000"
}

func (c *stamp) append(b []byte, t time.Time) []byte {
	if sec, loc := t.Unix(), t.Location(); sec != c.sec || loc != c.loc || c.head == nil {
		whole := t.Truncate(time.Second).AppendFormat(nil, timeFormat)
		i := bytes.Index(whole, []byte(".000"))
		if i < 0 { // not the format this is for
			return t.AppendFormat(b, timeFormat)
		}
		c.sec, c.loc, c.head, c.tail = sec, loc, whole[:i], whole[i+4:]
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, c.head...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, c.tail...)
}

// appendTextLine is logrus's TextFormatter without colours: time, level and
// message first, then the fields sorted by key.
func (f *formatter) appendTextLine(b []byte, r *Access) []byte {
	b = append(b, "time="...)
	var ts [40]byte
	b = appendTextValue(b, f.stamp.append(ts[:0], r.Time))
	b = append(b, " level=info msg="+accessMessage+" bytes="...)
	b = strconv.AppendInt(b, int64(r.Bytes), 10)
	b = append(b, " duration_ms="...)
	b = strconv.AppendFloat(b, durationMS(r.Duration), 'g', -1, 64)
	b = append(b, " method="...)
	b = appendTextValue(b, r.Method)
	b = append(b, " path="...)
	b = appendTextValue(b, r.Path)
	b = append(b, " remote="...)
	b = appendTextValue(b, r.Remote)
	b = append(b, " "+CorrelationKey+"="...)
	b = appendTextValue(b, r.RequestID)
	b = append(b, " "+SourceKey+"="+accessSource+" status="...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	return append(b, '\n')
}

// appendTextValue quotes s the way logrus's TextFormatter does: bare when
// every byte is a letter, digit or one of -._/@^+, else Go-quoted (where
// printable ASCII other than " and \ stands for itself).
func appendTextValue[S string | []byte](b []byte, s S) []byte {
	class := byte(textBare)
	for i := 0; i < len(s); i++ {
		class = max(class, textClass[s[i]])
	}
	switch class {
	case textBare:
		return append(b, s...)
	case textQuoted:
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return strconv.AppendQuote(b, string(s))
}

// What a byte asks of a text value, in rising order.
const (
	textBare    = iota // logrus writes it bare
	textQuoted         // logrus quotes the value, and the byte stands for itself
	textEscaped        // the quoted value needs escapes
)

var textClass = func() (c [256]byte) {
	for i := range c {
		switch b := byte(i); {
		case alnum(b) || strings.IndexByte("-._/@^+", b) >= 0:
			c[i] = textBare
		case b >= 0x20 && b <= 0x7e && b != '"' && b != '\\':
			c[i] = textQuoted
		default:
			c[i] = textEscaped
		}
	}
	return c
}()

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// appendJSONLine is logrus's JSONFormatter: encoding/json's object of the
// fields, time, level and message, keys sorted, HTML escaped.
func (f *formatter) appendJSONLine(b []byte, r *Access) []byte {
	b = append(b, `{"bytes":`...)
	b = strconv.AppendInt(b, int64(r.Bytes), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendJSONFloat(b, durationMS(r.Duration))
	b = append(b, `,"level":"info","method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"msg":"`+accessMessage+`","path":`...)
	b = appendJSONString(b, r.Path)
	b = append(b, `,"remote":`...)
	b = appendJSONString(b, r.Remote)
	b = append(b, `,"`+CorrelationKey+`":`...)
	b = appendJSONString(b, r.RequestID)
	b = append(b, `,"`+SourceKey+`":"`+accessSource+`","status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"time":`...)
	var ts [40]byte
	b = appendJSONString(b, f.stamp.append(ts[:0], r.Time))
	return append(b, "}\n"...)
}

// appendJSONString writes plain printable ASCII itself and leaves anything
// that needs escaping to encoding/json, which then decides exactly.
func appendJSONString[S string | []byte](b []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(string(s))
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONFloat formats v as encoding/json does: shortest 'f' form in
// the range where encoding/json uses it, encoding/json itself elsewhere.
func appendJSONFloat(b []byte, v float64) []byte {
	if v == 0 || v >= 1e-6 && v < 1e21 {
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	q, _ := json.Marshal(v)
	return append(b, q...)
}
