package logging

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// recordSink is a LogSink that keeps what it is given.
type recordSink struct {
	mu      sync.Mutex
	entries []providers.LogEntry
	flushed int
	closed  bool
}

func (r *recordSink) Write(e *providers.LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, *e)
}
func (r *recordSink) Flush(context.Context) error { r.flushed++; return nil }
func (r *recordSink) Close(context.Context) error { r.closed = true; return nil }

func TestLevelsStatsAndSinks(t *testing.T) {
	var out strings.Builder
	s, err := NewService(Options{Out: &out, Level: "debug", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	all, warn := &recordSink{}, &recordSink{}
	s.AddSink("all", all, providers.LevelTrace)
	s.AddSink("warn", warn, providers.LevelWarn)
	if got := strings.Join(s.Sinks(), ","); got != "console,all,warn" {
		t.Fatalf("Sinks = %s", got)
	}

	lc := Context{CorrelationID: "req-7", Source: "store", Metadata: map[string]string{"collection": "pets"}}
	s.Log(providers.LevelTrace, lc, "not logged: below log.level")
	s.Log(providers.LevelDebug, lc, "debug line")
	s.Log(providers.LevelInfo, lc, "info line")
	s.Log(providers.LevelWarn, lc, "warn line")
	s.Log(providers.LevelFatal, lc, "fatal is logged, not exited")
	s.LogStructured(providers.LevelError, lc, map[string]any{"message": "structured", "count": 3, "err": errors.New("boom")})
	s.ConsoleFunc()(providers.LevelWarn, "sink trouble", map[string]any{"x": 1})

	st := s.Stats()
	want := map[string]uint64{"trace": 0, "debug": 1, "info": 1, "warn": 2, "error": 1, "fatal": 1}
	for l, n := range want {
		if st.ByLevel[l] != n {
			t.Errorf("count[%s] = %d, want %d (%v)", l, st.ByLevel[l], n, st.ByLevel)
		}
	}
	if st.Total != 6 || s.Count(providers.LevelWarn) != 2 {
		t.Errorf("total = %d", st.Total)
	}
	if len(all.entries) != 5 || len(warn.entries) != 3 {
		t.Fatalf("sinks got %d and %d entries; the console-only line must reach neither", len(all.entries), len(warn.entries))
	}
	e := all.entries[1]
	if e.Message != "info line" || e.Level != providers.LevelInfo || e.CorrelationID != "req-7" || e.Source != "store" || e.Fields["collection"] != "pets" {
		t.Fatalf("entry = %+v", e)
	}
	if _, ok := e.Fields[CorrelationKey]; ok {
		t.Fatalf("correlation ID left among the fields: %+v", e.Fields)
	}
	se := all.entries[4]
	if se.Message != "structured" || se.Fields["count"] != 3 || se.Fields["err"] != "boom" || se.Level != providers.LevelError {
		t.Fatalf("structured entry = %+v", se)
	}
	if !strings.Contains(out.String(), `"request_id":"req-7"`) || !strings.Contains(out.String(), `"msg":"sink trouble"`) {
		t.Fatalf("console:\n%s", out.String())
	}

	if err := s.Flush(context.Background()); err != nil || all.flushed != 1 {
		t.Fatal("flush did not reach the sink")
	}
	if err := s.Close(context.Background()); err != nil || !all.closed || !warn.closed {
		t.Fatal("close did not reach the sinks")
	}
	s.Logger().Warn("after close")
	if len(all.entries) != 5 || !strings.Contains(out.String(), "after close") {
		t.Fatal("after Close the console goes on and the sinks get nothing")
	}
}

func TestContextCorrelation(t *testing.T) {
	var out strings.Builder
	s, _ := NewService(Options{Out: &out, Level: "info"})
	ctx := WithCorrelationID(context.Background(), "abc")
	s.FromContext(ctx, "http").Info("hi")
	if !strings.Contains(out.String(), "request_id=abc") || !strings.Contains(out.String(), "source=http") {
		t.Fatal(out.String())
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := NewService(Options{Level: "loud"}); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatal(err)
	}
	if _, err := NewService(Options{Format: "xml"}); err == nil || !strings.Contains(err.Error(), "log.format") {
		t.Fatal(err)
	}
}
