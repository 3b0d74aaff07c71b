package logging

import (
	"strconv"
	"unicode/utf8"

	"github.com/sirupsen/logrus"
)

// Bounds on what a log line echoes of its input, so that a client cannot
// make navius write a line of its choosing length (a 900 KB path, a cursor).
const (
	// MaxEcho bounds each request field of an access line: path, method,
	// remote address.
	MaxEcho = 256
	// MaxValue bounds the message and every string or error field of any
	// other line.
	MaxValue = 4096
)

// Cut returns s when it has at most n bytes, else its first n bytes (cut
// at a character boundary) followed by "...(N bytes)", N being its length.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "...(" + strconv.Itoa(len(s)) + " bytes)"
}

// cutHook cuts a line's message and its string and error fields to
// MaxValue. It runs before the other hooks, so that the sinks see the cut
// line too.
type cutHook struct{}

func (cutHook) Levels() []logrus.Level { return logrus.AllLevels }

func (cutHook) Fire(e *logrus.Entry) error {
	e.Message = Cut(e.Message, MaxValue)
	for k, v := range e.Data {
		switch x := v.(type) {
		case string:
			if len(x) > MaxValue {
				e.Data[k] = Cut(x, MaxValue)
			}
		case error:
			if s := x.Error(); len(s) > MaxValue {
				e.Data[k] = Cut(s, MaxValue)
			}
		}
	}
	return nil
}
