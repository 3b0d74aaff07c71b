package providertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
)

// OpenLogSink opens a sink that delivers to a fresh destination (a test
// server of the backend's protocol, or the real backend) and returns it with
// a function that reads back what that destination has received so far,
// decoded into entries. The suite compares Level, Message, CorrelationID,
// Source and Fields (each value by its fmt.Sprint form); Time may be left
// zero. The suite closes the sink.
type OpenLogSink func(t *testing.T) (sink providers.LogSink, received func() []providers.LogEntry)

// LogSinkHarness is what the log sink suite needs from a provider.
type LogSinkHarness struct {
	// Open opens a sink on a fresh destination for each case.
	Open OpenLogSink
}

// TestLogSink runs the log sink conformance suite; it is RunLogSinkTests
// with LogSinkHarness{Open: open}.
func TestLogSink(t *testing.T, open OpenLogSink) {
	t.Helper()
	RunLogSinkTests(t, LogSinkHarness{Open: open})
}

// RunLogSinkTests runs the log sink conformance suite: delivery of every
// field, copies taken at Write, concurrent writers, Close flushing and
// dropping later writes, Flush bounded by its context, and (for sinks that
// implement providers.LogSinkStatser) counters that add up. Cases are
// subtests of "navius.logging.v2".
func RunLogSinkTests(t *testing.T, h LogSinkHarness) {
	t.Helper()
	if h.Open == nil {
		t.Fatal("providertest: LogSinkHarness needs Open")
	}
	runSuite(t, conformance.Logging, func(s *suiteRun) { logSinkCases(s, h.Open) })
}

func logSinkCases(s *suiteRun, open OpenLogSink) {
	run := func(name string, fn func(t *testing.T, sink providers.LogSink, received func() []providers.LogEntry)) {
		s.run(name, func(t *testing.T) {
			sink, received := open(t)
			s.tested(sink)
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = sink.Close(ctx)
			})
			fn(t, sink, received)
		})
	}

	run("FlushDelivers", func(t *testing.T, sink providers.LogSink, received func() []providers.LogEntry) {
		var want []providers.LogEntry
		for i := range 25 {
			e := providers.LogEntry{
				Time:          time.Now(),
				Level:         providers.LogLevels[i%len(providers.LogLevels)],
				Message:       fmt.Sprintf("entry %02d: quote\" backslash\\ newline\n é", i),
				CorrelationID: fmt.Sprintf("req-%d", i%3),
				Source:        "conformance",
				Fields:        map[string]any{"n": i, "even": i%2 == 0, "who": "suite"},
			}
			want = append(want, e)
			sink.Write(&e)
		}
		flushSink(t, sink)
		sameEntries(t, received(), want)
	})

	run("EntryCopiedAtWrite", func(t *testing.T, sink providers.LogSink, received func() []providers.LogEntry) {
		e := &providers.LogEntry{Time: time.Now(), Level: providers.LevelWarn, Message: "original", Source: "conformance",
			Fields: map[string]any{"k": "original"}}
		want := *e
		want.Fields = maps.Clone(e.Fields)
		sink.Write(e)
		// The caller may reuse the entry and its fields once Write returns.
		e.Message = "changed"
		e.Level = providers.LevelDebug
		e.Fields["k"] = "changed"
		e.Fields["extra"] = "added"
		flushSink(t, sink)
		sameEntries(t, received(), []providers.LogEntry{want})
	})

	run("ConcurrentWrites", func(t *testing.T, sink providers.LogSink, received func() []providers.LogEntry) {
		const writers, each = 8, 100
		start := time.Now()
		_ = Concurrently(writers, each, func(w, i int) error {
			sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo,
				Message: fmt.Sprintf("w%d-%d", w, i), Fields: map[string]any{"w": w}})
			return nil
		})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d writes took %v: Write must not wait for the network", writers*each, d)
		}
		flushSink(t, sink)
		got := received()
		seen := map[string]bool{}
		for _, e := range got {
			if seen[e.Message] {
				t.Fatalf("entry %q delivered twice", e.Message)
			}
			seen[e.Message] = true
		}
		delivered := uint64(len(got))
		if st, ok := sink.(providers.LogSinkStatser); ok {
			// A sink may drop under load, but it counts every entry.
			c := st.Stats()
			if c.Accepted+c.Dropped != writers*each {
				t.Fatalf("accepted %d + dropped %d != %d written", c.Accepted, c.Dropped, writers*each)
			}
			if c.Sent+c.Failed != c.Accepted || c.Queued != 0 {
				t.Fatalf("after Flush: sent %d + failed %d != accepted %d, or %d still queued", c.Sent, c.Failed, c.Accepted, c.Queued)
			}
			if delivered != c.Sent {
				t.Fatalf("destination received %d entries, the sink counts %d sent", delivered, c.Sent)
			}
			return
		}
		if delivered != writers*each {
			t.Fatalf("destination received %d of %d entries", delivered, writers*each)
		}
	})

	run("CloseFlushesAndDropsLaterWrites", func(t *testing.T, sink providers.LogSink, received func() []providers.LogEntry) {
		var want []providers.LogEntry
		for i := range 5 {
			e := providers.LogEntry{Time: time.Now(), Level: providers.LevelError, Message: fmt.Sprintf("before close %d", i)}
			want = append(want, e)
			sink.Write(&e)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sink.Close(ctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		sameEntries(t, received(), want)
		sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelError, Message: "after close"})
		time.Sleep(100 * time.Millisecond)
		sameEntries(t, received(), want)
	})

	run("FlushHonoursContext", func(t *testing.T, sink providers.LogSink, _ func() []providers.LogEntry) {
		for i := range 10 {
			sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: fmt.Sprintf("m%d", i)})
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- sink.Flush(ctx) }()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("Flush with a cancelled context: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Flush with a cancelled context did not return within 5s")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Flush with a cancelled context took %v", d)
		}
	})

	s.run("StatsAddUp", func(t *testing.T) {
		sink, received := open(t)
		s.tested(sink)
		defer func() { _ = sink.Close(context.Background()) }()
		st, ok := sink.(providers.LogSinkStatser)
		if !ok {
			t.Skip("the sink does not count deliveries (providers.LogSinkStatser)")
		}
		for i := range 30 {
			sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: fmt.Sprintf("s%d", i)})
		}
		flushSink(t, sink)
		c := st.Stats()
		if c.Accepted+c.Dropped != 30 || c.Sent+c.Failed != c.Accepted || c.Queued != 0 || c.QueuedBytes != 0 {
			t.Fatalf("stats after 30 writes and a Flush = %+v", c)
		}
		if got := uint64(len(received())); got != c.Sent {
			t.Fatalf("destination received %d, the sink counts %d sent", got, c.Sent)
		}
	})
}

func flushSink(t *testing.T, sink providers.LogSink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sink.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// sameEntries compares delivered entries with the written ones, in any
// order (a sink may deliver batches concurrently).
func sameEntries(t *testing.T, got, want []providers.LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("destination received %d entries, want %d", len(got), len(want))
	}
	byMsg := map[string]providers.LogEntry{}
	for _, e := range got {
		if _, dup := byMsg[e.Message]; dup {
			t.Fatalf("entry %q delivered twice", e.Message)
		}
		byMsg[e.Message] = e
	}
	for _, w := range want {
		g, ok := byMsg[w.Message]
		if !ok {
			t.Fatalf("entry %q was not delivered (or its message changed)", w.Message)
		}
		if g.Level != w.Level || g.CorrelationID != w.CorrelationID || g.Source != w.Source {
			t.Fatalf("entry %q arrived as level %s, correlation %q, source %q; want %s, %q, %q",
				w.Message, g.Level, g.CorrelationID, g.Source, w.Level, w.CorrelationID, w.Source)
		}
		for k, v := range w.Fields {
			if gv, ok := g.Fields[k]; !ok || fmt.Sprint(gv) != fmt.Sprint(v) {
				t.Fatalf("entry %q: field %s = %v (present %v), want %v", w.Message, k, gv, ok, v)
			}
		}
		for k := range g.Fields {
			if _, ok := w.Fields[k]; !ok {
				t.Fatalf("entry %q: unexpected field %s = %v", w.Message, k, g.Fields[k])
			}
		}
	}
}
