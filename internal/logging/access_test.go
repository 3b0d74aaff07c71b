package logging

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
)

// syncBuffer is a console that tests read while the writer may write.
type syncBuffer struct {
	harness.LockedBuffer
}

// lines returns the console lines that contain substr.
func (s *syncBuffer) lines(substr string) []string {
	var out []string
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// accessCases are lines whose values exercise the formatters' quoting and
// escaping.
var accessCases = []Access{
	{Time: time.Date(2026, 11, 29, 20, 1, 2, 345678901, time.UTC), RequestID: "0a1b2c3d-1", Method: "GET", Path: "/api/v1/pets/tom", Remote: "127.0.0.1:50432", Status: 200, Bytes: 256, Duration: 123 * time.Microsecond},
	{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), RequestID: "abc:def_1.2-3", Method: "PUT", Path: "/api/v1/a b/\"quoted\"", Remote: "[::1]:8080", Status: 413, Bytes: 0, Duration: 0},
	{Time: time.Date(2026, 6, 1, 0, 0, 0, 999999999, time.FixedZone("", -9000)), RequestID: "x", Method: "OTHER", Path: "", Remote: "", Status: 500, Bytes: 1 << 40, Duration: 90 * time.Minute},
	{Time: time.Unix(0, 0).UTC(), RequestID: "r", Method: "DELETE", Path: "/<script>&amp;</script>", Remote: "10.0.0.1:1", Status: 204, Bytes: 7, Duration: time.Nanosecond},
	{Time: time.Unix(1e9, 0).UTC(), RequestID: "u", Method: "GET", Path: "/ünïcode/\u2028/\x7f/\x01/\t", Remote: "h:1", Status: 404, Bytes: 12, Duration: 1500 * time.Microsecond},
	{Time: time.Unix(1e9, 0).UTC(), RequestID: "bad", Method: "GET", Path: "/\xff\xfe/invalid-utf8\\", Remote: "h:1", Status: 400, Bytes: 99, Duration: 1e6 * time.Hour},
	{Time: time.Unix(1e9, 0).UTC(), RequestID: "plus", Method: "GET", Path: "/a+b@c^d.e_f-g", Remote: "h:1", Status: 200, Bytes: 1, Duration: 10 * time.Millisecond},
}

// logrusLine is what the service's logrus formatter writes for r.
func logrusLine(t testing.TB, s *Service, r *Access) string {
	t.Helper()
	line, err := s.log.Formatter.Format(logrusEntry(&logrus.Entry{Logger: s.log}, r))
	if err != nil {
		t.Fatal(err)
	}
	return string(line)
}

// The fast formatters write exactly what logrus's formatters write.
func TestAccessLineMatchesLogrus(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		s, err := NewService(Options{Out: &syncBuffer{}, Format: format})
		if err != nil {
			t.Fatal(err)
		}
		f := fastFormatter(s)
		if f == nil {
			t.Fatalf("%s: no fast formatter for a plain console", format)
		}
		for _, r := range append(accessCases, accessCases...) { // again, from the cached second
			if got, want := string(f.append(nil, &r)), logrusLine(t, s, &r); got != want {
				t.Errorf("%s line for %+v:\n got %s\nwant %s", format, r, got, want)
			}
		}
	}
}

func FuzzAccessLine(f *testing.F) {
	for _, r := range accessCases {
		f.Add(r.RequestID, r.Method, r.Path, r.Remote, r.Status, r.Bytes, int64(r.Duration), r.Time.UnixNano())
	}
	text, _ := NewService(Options{Out: &syncBuffer{}, Format: "text"})
	js, _ := NewService(Options{Out: &syncBuffer{}, Format: "json"})
	formatters := map[*Service]*formatter{text: fastFormatter(text), js: fastFormatter(js)}
	f.Fuzz(func(t *testing.T, id, method, path, remote string, status, n int, d, unixNano int64) {
		if d < 0 {
			d = -d
		}
		r := Access{Time: time.Unix(0, unixNano).UTC(), RequestID: id, Method: method, Path: path, Remote: remote, Status: status, Bytes: n, Duration: time.Duration(d)}
		for s, f := range formatters { // f keeps its cached second from input to input
			if got, want := string(f.append(nil, &r)), logrusLine(t, s, &r); got != want {
				t.Fatalf("%s:\n got %s\nwant %s", s.format, got, want)
			}
		}
	})
}

// A console the fast formatter cannot reproduce (colours, as on a
// terminal) gets its lines from logrus's formatter.
func TestAccessLineFallsBackToLogrus(t *testing.T) {
	var out syncBuffer
	s, _ := NewService(Options{Out: &out})
	s.log.Formatter = &logrus.TextFormatter{ForceColors: true, FullTimestamp: true, TimestampFormat: timeFormat}
	a := s.AccessLog()
	if a.fast != nil {
		t.Fatal("fast formatter chosen for a coloured console")
	}
	r := accessCases[0]
	a.Log(r)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), logrusLine(t, s, &r); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// Every request logged reaches the console once, is counted at info level,
// and reaches every sink that takes info entries as the same entry the
// logrus path would give it.
func TestAccessLogWritesEveryLineToConsoleAndSinks(t *testing.T) {
	var out syncBuffer
	s, _ := NewService(Options{Out: &out, Format: "json"})
	info, warn := &recordSink{}, &recordSink{}
	s.AddSink("info", info, providers.LevelInfo)
	s.AddSink("warn", warn, providers.LevelWarn)
	a := s.AccessLog()
	if !a.Enabled() {
		t.Fatal("access log disabled at info level")
	}
	const n = 2000
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				r := accessCases[0]
				r.RequestID = fmt.Sprintf("req-%d", i)
				a.Log(r)
			}
		})
	}
	wg.Wait()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := out.lines(`"msg":"request"`)
	seen := map[string]bool{}
	for _, l := range lines {
		i := strings.Index(l, `"request_id":"`)
		seen[l[i+14:i+14+strings.IndexByte(l[i+14:], '"')]] = true
	}
	if len(lines) != n || len(seen) != n {
		t.Fatalf("console has %d lines for %d distinct requests; want %d", len(lines), len(seen), n)
	}
	if got := s.Count(providers.LevelInfo); got != n {
		t.Fatalf("info count = %d, want %d", got, n)
	}
	if len(info.entries) != n || len(warn.entries) != 0 {
		t.Fatalf("sinks got %d (info) and %d (warn) entries; want %d and 0", len(info.entries), len(warn.entries), n)
	}

	// The logrus path, through the same service, for comparison.
	r := accessCases[1]
	a.Log(r)
	_ = s.Flush(context.Background())
	s.log.WithFields(logrusEntry(&logrus.Entry{}, &r).Data).WithTime(r.Time).Info(accessMessage)
	got, want := info.entries[n], info.entries[n+1]
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sink entry from the access log:\n%+v\nfrom logrus:\n%+v", got, want)
	}
	if a.Dropped() != 0 {
		t.Fatalf("dropped %d lines with a console that keeps up", a.Dropped())
	}
}

// blockingWriter blocks every write until released, telling entered when
// a write starts.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	syncBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return w.syncBuffer.Write(p)
}

// While the console blocks, the queue holds exactly its bound; every line
// beyond it is dropped and counted, and everything accepted is written once
// the console moves again.
func TestAccessLogQueueBoundAndExactDrops(t *testing.T) {
	const bound, extra = 64, 37
	out := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, _ := NewService(Options{Out: out, AccessQueue: bound})
	a := s.AccessLog()
	logN := func(prefix string, n int) {
		for i := range n {
			r := accessCases[0]
			r.RequestID = fmt.Sprintf("%s-%d", prefix, i)
			a.Log(r)
		}
	}
	logN("first", 1)
	<-out.entered // the writer holds the first line and is stuck in the console
	logN("queued", bound+extra)
	if got := a.Dropped(); got != extra {
		t.Fatalf("dropped %d lines while the console blocked, want exactly %d", got, extra)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := a.Flush(ctx); err == nil {
		t.Fatal("Flush returned while the console was blocked")
	}
	close(out.release)
	s.Close(context.Background())
	if got := out.lines("msg=request"); len(got) != 1+bound {
		t.Fatalf("%d lines written, want the %d accepted", len(got), 1+bound)
	}
	for _, id := range []string{"first-0", "queued-0", fmt.Sprintf("queued-%d", bound-1)} {
		if len(out.lines("request_id="+id+" ")) != 1 {
			t.Errorf("accepted line %s not written once", id)
		}
	}
	if len(out.lines(fmt.Sprintf("queued-%d ", bound))) != 0 {
		t.Error("a line beyond the bound was written")
	}
	if warn := out.lines("level=warning"); len(warn) == 0 || !strings.Contains(warn[len(warn)-1], fmt.Sprintf("dropped=%d", extra)) {
		t.Fatalf("Close does not report the drops: %q", warn)
	}
	if a.Dropped() != extra || s.Count(providers.LevelInfo) != 1+bound {
		t.Fatalf("after close: dropped %d, info count %d", a.Dropped(), s.Count(providers.LevelInfo))
	}
}

// Close writes every accepted line before the sinks close, and a line
// logged after Close is still written.
func TestAccessLogCloseWritesEverything(t *testing.T) {
	const n = 5000
	var out syncBuffer
	s, _ := NewService(Options{Out: &out, AccessQueue: n})
	sink := &recordSink{}
	s.AddSink("sink", sink, providers.LevelTrace)
	a := s.AccessLog()
	for i := range n {
		r := accessCases[0]
		r.RequestID = fmt.Sprintf("c-%d", i)
		a.Log(r)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(out.lines("msg=request")); got != n || a.Dropped() != 0 {
		t.Fatalf("%d lines written of %d (%d dropped)", got, n, a.Dropped())
	}
	if len(sink.entries) != n || !sink.closed {
		t.Fatalf("the sink got %d entries of %d before closing (closed %v)", len(sink.entries), n, sink.closed)
	}
	r := accessCases[0]
	r.RequestID = "after-close"
	a.Log(r)
	if len(out.lines("request_id=after-close")) != 1 {
		t.Fatal("a line logged after Close was lost")
	}
}

func TestAccessLogLevel(t *testing.T) {
	s, _ := NewService(Options{Out: &syncBuffer{}, Level: "warn"})
	if s.AccessLog().Enabled() {
		t.Fatal("access log enabled above info level")
	}
	var off *AccessLog
	if off.Enabled() || off.Dropped() != 0 {
		t.Fatal("a nil access log is enabled")
	}
}
