package dynatrace

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"

	collectorpb "go.opentelemetry.io/proto/slim/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/slim/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/slim/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/slim/otlp/trace/v1"

	"github.com/navius-dev/navius/internal/gzipbody"
	"github.com/navius-dev/navius/providers"
)

// Span export limits.
const (
	queueSize = 4096
	batchSize = 512
)

// ScopeName is the OTLP instrumentation scope of navius's spans.
const ScopeName = "github.com/navius-dev/navius"

// spanExporter batches finished spans and sends them over OTLP/HTTP.
type spanExporter struct {
	p       *Provider
	queue   chan *providers.SpanData
	flushes chan chan struct{}
	zw      gzipbody.Compressor
}

func newSpanExporter(p *Provider) *spanExporter {
	return &spanExporter{p: p, queue: make(chan *providers.SpanData, queueSize), flushes: make(chan chan struct{})}
}

func (e *spanExporter) enqueue(s *providers.SpanData) {
	select {
	case e.queue <- s:
	default:
		e.p.stats.SpansDropped.Add(1)
	}
}

// loop sends a batch when it is full or has waited the flush interval; on
// stop it sends what is queued and returns.
func (e *spanExporter) loop() {
	defer e.p.wg.Done()
	t := time.NewTicker(e.p.cfg.TraceFlushInterval)
	defer t.Stop()
	var batch []*providers.SpanData
	send := func(ctx context.Context) {
		for len(batch) > 0 {
			n := min(len(batch), batchSize)
			e.export(ctx, batch[:n])
			batch = batch[n:]
		}
		batch = nil
	}
	for {
		select {
		case s := <-e.queue:
			batch = append(batch, s)
			if len(batch) >= batchSize {
				ctx, cancel := context.WithTimeout(context.Background(), 4*e.p.cfg.Timeout)
				send(ctx)
				cancel()
			}
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 4*e.p.cfg.Timeout)
			send(ctx)
			cancel()
		case done := <-e.flushes:
			batch = e.drain(batch)
			ctx, cancel := context.WithTimeout(context.Background(), 4*e.p.cfg.Timeout)
			send(ctx)
			cancel()
			close(done)
		case <-e.p.stop:
			batch = e.drain(batch)
			send(e.p.shutdownContext())
			return
		}
	}
}

func (e *spanExporter) drain(batch []*providers.SpanData) []*providers.SpanData {
	for {
		select {
		case s := <-e.queue:
			batch = append(batch, s)
		default:
			return batch
		}
	}
}

// Flush sends the queued spans now and waits until they are sent (tests and
// callers that must not lose spans before a pause).
func (p *Provider) Flush(ctx context.Context) {
	if p.spans == nil {
		return
	}
	done := make(chan struct{})
	select {
	case p.spans.flushes <- done:
	case <-ctx.Done():
		return
	case <-p.stop:
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (e *spanExporter) export(ctx context.Context, spans []*providers.SpanData) {
	p := e.p
	body, err := proto.Marshal(e.request(spans))
	if err != nil {
		p.stats.SpansDropped.Add(int64(len(spans)))
		p.stats.setTracesResult(fmt.Errorf("encoding spans: %w", err))
		return
	}
	// Only the export loop calls export: it owns the compressor.
	resp, payload, err := p.post(ctx, p.tracesURL, "application/x-protobuf", e.zw.Compress(body), http.Header{"Content-Encoding": {"gzip"}})
	if err != nil {
		p.stats.SpansDropped.Add(int64(len(spans)))
		p.traceResult(err)
		return
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		var reply collectorpb.ExportTraceServiceResponse
		rejected := int64(0)
		if proto.Unmarshal(payload, &reply) == nil && reply.GetPartialSuccess() != nil {
			rejected = reply.GetPartialSuccess().GetRejectedSpans()
			if msg := reply.GetPartialSuccess().GetErrorMessage(); msg != "" && p.cfg.Log != nil {
				p.cfg.Log.Warnf("dynatrace: traces partly rejected (%d spans): %s", rejected, msg)
			}
		}
		rejected = min(max(rejected, 0), int64(len(spans)))
		p.stats.SpansRejected.Add(rejected)
		p.stats.SpansExported.Add(int64(len(spans)) - rejected)
		p.traceResult(nil)
	case resp.StatusCode == http.StatusBadRequest:
		p.stats.SpansRejected.Add(int64(len(spans)))
		p.traceResult(statusError(resp.StatusCode, payload, "openTelemetryTrace.ingest"))
	default:
		p.stats.SpansDropped.Add(int64(len(spans)))
		p.traceResult(statusError(resp.StatusCode, payload, "openTelemetryTrace.ingest"))
	}
}

func (p *Provider) traceResult(err error) {
	p.stats.setTracesResult(err)
	if err != nil && p.cfg.Log != nil {
		p.cfg.Log.Warnf("dynatrace: trace export: %v", err)
	}
}

// request builds the OTLP ExportTraceServiceRequest for spans.
func (e *spanExporter) request(spans []*providers.SpanData) *collectorpb.ExportTraceServiceRequest {
	out := make([]*tracepb.Span, len(spans))
	for i, s := range spans {
		out[i] = SpanProto(s)
	}
	return &collectorpb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			kv("service.name", e.p.cfg.ServiceName),
			kv("service.version", e.p.cfg.Version),
			kv("telemetry.sdk.name", "navius"),
			kv("telemetry.sdk.language", "go"),
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: ScopeName, Version: e.p.cfg.Version},
			Spans: out,
		}},
	}}}
}

// SpanProto converts a finished span to its OTLP form.
func SpanProto(s *providers.SpanData) *tracepb.Span {
	sc := s.Context
	sp := &tracepb.Span{
		TraceId:           append([]byte(nil), sc.TraceID[:]...),
		SpanId:            append([]byte(nil), sc.SpanID[:]...),
		TraceState:        sc.TraceState,
		Name:              s.Name,
		Kind:              spanKind(s.Kind),
		StartTimeUnixNano: uint64(s.Start.UnixNano()),
		EndTimeUnixNano:   uint64(s.End.UnixNano()),
		Attributes:        attrs(s.Attrs),
		Status:            &tracepb.Status{Code: statusCode(s.Status), Message: s.StatusMessage},
	}
	if sc.Sampled {
		sp.Flags = 1 // W3C trace flags: sampled
	}
	if sc.Parent.IsValid() {
		sp.ParentSpanId = append([]byte(nil), sc.Parent[:]...)
	}
	for _, ev := range s.Events {
		sp.Events = append(sp.Events, &tracepb.Span_Event{TimeUnixNano: uint64(ev.Time.UnixNano()), Name: ev.Name, Attributes: attrs(ev.Attrs)})
	}
	return sp
}

func spanKind(k providers.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case providers.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case providers.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	}
	return tracepb.Span_SPAN_KIND_INTERNAL
}

func statusCode(s providers.SpanStatus) tracepb.Status_StatusCode {
	switch s {
	case providers.SpanStatusOK:
		return tracepb.Status_STATUS_CODE_OK
	case providers.SpanStatusError:
		return tracepb.Status_STATUS_CODE_ERROR
	}
	return tracepb.Status_STATUS_CODE_UNSET
}

func attrs(in []providers.Attr) []*commonpb.KeyValue {
	if len(in) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, len(in))
	for i, a := range in {
		out[i] = &commonpb.KeyValue{Key: a.Key, Value: anyValue(a.Value())}
	}
	return out
}

func kv(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: anyValue(v)}
}

func anyValue(v any) *commonpb.AnyValue {
	switch x := v.(type) {
	case string:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: x}}
	case bool:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: x}}
	case int:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(x)}}
	case int64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: x}}
	case float64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: x}}
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprint(v)}}
}
