package interop

// The Splunk HEC provider against a real HEC implementation (the
// OpenTelemetry Collector contrib splunkhecreceiver, in-process on a
// loopback port): fields, batching, gzip, indexer acknowledgement, a wrong
// token, health, HEC down and back, and zero loss on SIGTERM of the real
// binary.

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/splunk"
)

const splunkToken = "7f3c2a1e-9b8d-4c6f-a5e4-0d1c2b3a4f5e"

func newSplunkSink(t *testing.T, cfg splunk.Config) *splunk.Sink {
	t.Helper()
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = time.Hour // only size and Flush send, so batches are deterministic
	}
	s, err := splunk.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func flushSplunk(t *testing.T, f interface{ Flush(context.Context) error }) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSplunkEventsFieldsBatchingGzip(t *testing.T) {
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken})
	rec := recordSplunk(t, hec.URL)
	con := &providertest.Console{}
	sink := newSplunkSink(t, splunk.Config{
		Endpoint: rec.URL + "/services/collector/event", Token: splunkToken, Gzip: true, BatchSize: 10,
		Index: "navius_idx", Source: "navius-test", SourceType: "navius:log", Host: "host-a", Console: con.Log,
	})
	var out strings.Builder
	svc, err := logging.NewService(logging.Options{Out: &out, Level: "debug", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	svc.AddSink("splunk", sink, providers.LevelDebug)

	start := time.Now()
	for i := range 25 {
		svc.With(logging.Context{CorrelationID: fmt.Sprintf("req-%d", i), Source: "test", Metadata: map[string]string{"n": strconv.Itoa(i)}}).
			WithField("status", 200).Infof("event %d", i)
	}
	svc.Logger().Trace("below log.level: never logged")
	flushSplunk(t, svc)
	end := time.Now()

	recs, batches := splunkRecords(hec.Logs)
	if len(recs) != 25 || fmt.Sprint(batches) != "[10 10 5]" {
		t.Fatalf("receiver got %d events in batches %v; want 25 in [10 10 5]", len(recs), batches)
	}
	for i, r := range recs {
		b, a, res := r.Body, r.Attrs, r.Resource
		if b["message"] != fmt.Sprintf("event %d", i) || b["level"] != "info" || b["component"] != "test" ||
			b["correlation_id"] != fmt.Sprintf("req-%d", i) || b["n"] != strconv.Itoa(i) || b["status"] != 200.0 {
			t.Fatalf("event %d body = %v", i, b)
		}
		if a["level"] != "info" || a["correlation_id"] != fmt.Sprintf("req-%d", i) || a["component"] != "test" {
			t.Fatalf("event %d indexed fields = %v", i, a)
		}
		if res["host.name"] != "host-a" || res["com.splunk.source"] != "navius-test" ||
			res["com.splunk.sourcetype"] != "navius:log" || res["com.splunk.index"] != "navius_idx" {
			t.Fatalf("event %d metadata = %v", i, res)
		}
		if r.Time.Before(start.Add(-time.Millisecond)) || r.Time.After(end.Add(time.Millisecond)) { // float seconds: sub-µs error
			t.Fatalf("event %d time %v outside [%v, %v]", i, r.Time, start, end)
		}
	}
	reqs := rec.requests(splunk.EventPath)
	if len(reqs) != 3 {
		t.Fatalf("%d requests to %s, want 3", len(reqs), splunk.EventPath)
	}
	for _, q := range reqs {
		if q.Encoding != "gzip" {
			t.Fatalf("request sent with Content-Encoding %q, want gzip", q.Encoding)
		}
	}
	if st := sink.Stats(); st.Sent != 25 || st.Accepted != 25 || st.Batches != 3 || st.Queued != 0 {
		t.Fatalf("stats = %+v", st)
	}

	// The byte bound: 40 events of about 330 bytes with batches of at most
	// 2000 bytes before gzip.
	hec.Logs.Reset()
	small := newSplunkSink(t, splunk.Config{Endpoint: rec.URL, Token: splunkToken, Gzip: true, BatchSize: 1000, BatchBytes: 2000})
	pad := strings.Repeat("x", 200)
	total := 0
	for i := range 40 {
		small.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: pad, Fields: map[string]any{"i": i}})
	}
	flushSplunk(t, small)
	sizes := rec.requests(splunk.EventPath)[3:]
	for _, q := range sizes {
		if q.RawBytes > 2000 {
			t.Fatalf("a batch of %d bytes exceeds splunk.batch_bytes 2000", q.RawBytes)
		}
		total += q.RawBytes
	}
	recs, batches = splunkRecords(hec.Logs)
	if len(recs) != 40 || len(sizes) < total/2000+1 || len(batches) != len(sizes) {
		t.Fatalf("%d events in %d requests (%d bytes); batches %v", len(recs), len(sizes), total, batches)
	}
	if con.String() != "" {
		t.Fatalf("unexpected console reports:\n%s", con)
	}
}

func TestSplunkIndexerAck(t *testing.T) {
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken, Ack: true})
	rec := recordSplunk(t, hec.URL)
	sink := newSplunkSink(t, splunk.Config{Endpoint: rec.URL, Token: splunkToken, Gzip: true, BatchSize: 10, Ack: true, AckPollInterval: 20 * time.Millisecond})
	for i := range 35 {
		sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelWarn, Message: "acked", Fields: map[string]any{"i": i}})
	}
	flushSplunk(t, sink) // returns once every batch is acknowledged
	st := sink.Stats()
	if st.Sent != 35 || st.Queued != 0 || st.Failed != 0 || st.Batches != 4 {
		t.Fatalf("stats = %+v", st)
	}
	if recs, _ := splunkRecords(hec.Logs); len(recs) != 35 {
		t.Fatalf("receiver got %d events, want 35", len(recs))
	}
	if len(rec.requests(splunk.AckPath)) == 0 {
		t.Fatal("no acknowledgement was polled")
	}
}

func TestSplunkWrongTokenReportedOnce(t *testing.T) {
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken})
	const wrong = "00000000-dead-beef-0000-wrongtoken00"
	con := &providertest.Console{}
	sink := newSplunkSink(t, splunk.Config{Endpoint: hec.URL, Token: wrong, Gzip: true, BatchSize: 5, Console: con.Log})
	for i := range 20 {
		sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: "m", Fields: map[string]any{"i": i}})
	}
	flushSplunk(t, sink)
	if st := sink.Stats(); st.Failed != 20 || st.Sent != 0 || st.Retries != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if recs, _ := splunkRecords(hec.Logs); len(recs) != 0 {
		t.Fatalf("receiver accepted %d events with a wrong token", len(recs))
	}
	// The receiver echoes the Authorization header in its 401 reply: the
	// token must not reach the report.
	con.CheckReportedOnce(t, "HEC rejected", wrong, "HTTP 401", "splunk.token")
	// The health indicator checks the token too, and says so without it.
	r := sink.HealthIndicators()[0].Check(context.Background())
	if r.Status != providers.StatusDown || strings.Contains(r.Error, wrong) {
		t.Fatalf("health with a wrong token = %+v", r)
	}
}

func TestSplunkHealthIndicator(t *testing.T) {
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken})
	sink := newSplunkSink(t, splunk.Config{Endpoint: hec.URL, Token: splunkToken})
	ind := sink.HealthIndicators()
	if len(ind) != 1 || ind[0].Critical {
		t.Fatalf("indicators = %+v; want one, not critical", ind)
	}
	if r := ind[0].Check(context.Background()); r.Status != providers.StatusUp || r.Details["hec_code"] != 17 {
		t.Fatalf("health with HEC up = %+v", r)
	}
	hec.Stop()
	if r := ind[0].Check(context.Background()); r.Status != providers.StatusDown || r.Error == "" {
		t.Fatalf("health with HEC down = %+v", r)
	}
}

func TestSplunkHECDownBoundedExactResumes(t *testing.T) {
	logs := new(consumertest.LogsSink)
	addr := harness.Addr(t)
	hec := startSplunkHEC(t, splunkHECOptions{Token: splunkToken, Addr: addr, Logs: logs})
	con := &providertest.Console{}
	const queueSize, queueBytes = 200, 1 << 20
	sink := newSplunkSink(t, splunk.Config{
		Endpoint: hec.URL, Token: splunkToken, Gzip: true, BatchSize: 20, QueueSize: queueSize, QueueBytes: queueBytes,
		FlushInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, RetryMaxBackoff: 50 * time.Millisecond,
		MaxRetries: 0, WarnInterval: time.Hour, Console: con.Log,
	})
	hec.Stop()

	id := 0
	write := func(n int, msg string) {
		for range n {
			sink.Write(&providers.LogEntry{Time: time.Now(), Level: providers.LevelInfo, Message: msg, Fields: map[string]any{"id": id}})
			id++
		}
	}
	// With HEC down nothing leaves: exactly queue_size entries are taken,
	// every other one is dropped and counted.
	write(5000, "while down")
	st := sink.Stats()
	if st.Accepted != queueSize || st.Dropped != 5000-queueSize || st.Queued != queueSize || st.QueuedBytes > queueBytes || st.Sent != 0 {
		t.Fatalf("after 5000 writes with HEC down: %+v", st)
	}

	// Memory stays bounded: 100,000 entries of 2 KiB (200 MiB) go nowhere.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	write(100_000, strings.Repeat("m", 2048))
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("heap grew %d MiB while HEC was down; the queue is bounded at %d entries and %d bytes", grew>>20, queueSize, queueBytes)
	}
	st = sink.Stats()
	if st.Accepted+st.Dropped != uint64(id) || st.Queued > queueSize || st.QueuedBytes > queueBytes {
		t.Fatalf("after %d writes: %+v", id, st)
	}
	if n := strings.Count(con.String(), "dropping log entries"); n != 1 {
		t.Fatalf("drop warning printed %d times within one warn interval, want 1:\n%s", n, con)
	}

	// HEC comes back on the same address: the queue drains, then new
	// entries flow again.
	startSplunkHEC(t, splunkHECOptions{Token: splunkToken, Addr: addr, Logs: logs})
	flushSplunk(t, sink)
	write(50, "after recovery")
	flushSplunk(t, sink)

	st = sink.Stats()
	recs, _ := splunkRecords(logs)
	seen := map[any]bool{}
	for _, r := range recs {
		seen[r.Body["id"]] = true
	}
	if st.Failed != 0 || st.Queued != 0 || st.Sent != st.Accepted || uint64(len(recs)) != st.Sent || len(seen) != len(recs) {
		t.Fatalf("after recovery: %+v; receiver got %d events (%d distinct)", st, len(recs), len(seen))
	}
	if st.Accepted+st.Dropped != uint64(id) || st.Accepted != queueSize+50 {
		t.Fatalf("accounting: %+v for %d writes", st, id)
	}
	if recs[len(recs)-1].Body["message"] != "after recovery" {
		t.Fatalf("last event = %v", recs[len(recs)-1].Body)
	}
}
