package dynatrace

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	collectorpb "go.opentelemetry.io/proto/slim/otlp/collector/trace/v1"

	"github.com/navius-dev/navius/providers"
)

// The real OTLP receiver is exercised in the interop module; this server
// produces what it cannot: 429 and partial success.
func TestSpanExportRetriesAndPartialSuccess(t *testing.T) {
	var mu sync.Mutex
	var got []*collectorpb.ExportTraceServiceRequest
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if r.URL.Path != "/api/v2/otlp/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" ||
			r.Header.Get("Authorization") != "Api-Token tok" || r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("request %s type %q auth %q encoding %q", r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("Content-Encoding"))
		}
		if calls == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(zr)
		var req collectorpb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("not an ExportTraceServiceRequest: %v", err)
		}
		got = append(got, &req)
		out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{PartialSuccess: &collectorpb.ExportTracePartialSuccess{RejectedSpans: 1, ErrorMessage: "one span too old"}})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	defer ts.Close()
	log := &testLog{}
	p, err := New(Config{Endpoint: ts.URL, Token: "tok", Traces: true, TraceFlushInterval: time.Hour, Backoff: time.Millisecond,
		ServiceName: "navius", Version: "v9.9.9", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	root := &providers.SpanData{Name: "GET /x", Kind: providers.SpanKindServer, Start: now, End: now.Add(time.Millisecond),
		Context: providers.SpanContext{TraceID: providers.TraceID{1}, SpanID: providers.SpanID{2}, Sampled: true},
		Attrs:   []providers.Attr{providers.IntAttr("http.response.status_code", 200), providers.BoolAttr("b", true), providers.FloatAttr("f", 1.5)}}
	child := &providers.SpanData{Name: "database.get", Kind: providers.SpanKindClient, Start: now, End: now.Add(time.Microsecond),
		Context: providers.SpanContext{TraceID: providers.TraceID{1}, SpanID: providers.SpanID{3}, Parent: providers.SpanID{2}, Sampled: true},
		Status:  providers.SpanStatusError, StatusMessage: "boom",
		Events: []providers.SpanEvent{{Name: "exception", Time: now, Attrs: []providers.Attr{providers.StringAttr("exception.message", "boom")}}}}
	p.ExportSpan(root)
	p.ExportSpan(child)
	p.Flush(context.Background())

	mu.Lock()
	n, reqs := calls, got
	mu.Unlock()
	if n != 2 || len(reqs) != 1 {
		t.Fatalf("%d calls, %d decoded; want a 429 then one export", n, len(reqs))
	}
	rs := reqs[0].ResourceSpans[0]
	res := map[string]string{}
	for _, kv := range rs.Resource.Attributes {
		res[kv.Key] = kv.Value.GetStringValue()
	}
	if res["service.name"] != "navius" || res["service.version"] != "v9.9.9" {
		t.Errorf("resource %v", res)
	}
	spans := rs.ScopeSpans[0].Spans
	if len(spans) != 2 || spans[1].Name != "database.get" || string(spans[1].ParentSpanId) != string(spans[0].SpanId) ||
		spans[1].Status.GetMessage() != "boom" || len(spans[1].Events) != 1 || spans[0].Attributes[0].Value.GetIntValue() != 200 {
		t.Errorf("spans %v", spans)
	}
	if len(spans[0].ParentSpanId) != 0 {
		t.Errorf("root span has parent %x", spans[0].ParentSpanId)
	}
	st := p.Stats()
	if st.SpansExported.Load() != 1 || st.SpansRejected.Load() != 1 || st.Retries.Load() != 1 {
		t.Errorf("exported %d rejected %d retries %d", st.SpansExported.Load(), st.SpansRejected.Load(), st.Retries.Load())
	}
	if !strings.Contains(log.String(), "one span too old") {
		t.Errorf("partial success not logged:\n%s", log)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	block := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer ts.Close()
	defer close(block)
	p, err := New(Config{Endpoint: ts.URL, Token: "tok", Traces: true, TraceFlushInterval: time.Hour, Timeout: 50 * time.Millisecond, MaxRetries: 1, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &providers.SpanData{Name: "x", Context: providers.SpanContext{TraceID: providers.TraceID{1}, SpanID: providers.SpanID{1}, Sampled: true}}
	for range queueSize + batchSize + 100 {
		p.ExportSpan(s) // never blocks
	}
	if p.Stats().SpansDropped.Load() == 0 {
		t.Error("nothing counted as dropped with a full queue")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.Shutdown(ctx)
}
