package observe

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/navius-dev/navius/providers"
)

type spanKey struct{}
type remoteKey struct{}

// Span is a span in progress. A nil *Span (no tracing provider active) does
// nothing; all methods are safe for concurrent use.
type Span struct {
	svc   *Service
	mu    sync.Mutex
	data  providers.SpanData
	ended bool
}

// Start begins a span as a child of the span (or remote parent) in ctx, or
// as the root of a new trace. It returns ctx carrying the span. With no
// tracing provider active it returns ctx and a nil span.
func (s *Service) Start(ctx context.Context, name string, kind providers.SpanKind, attrs ...providers.Attr) (context.Context, *Span) {
	if s == nil || len(s.tracers) == 0 {
		return ctx, nil
	}
	return s.start(ctx, name, kind, attrs)
}

//go:noinline
func (s *Service) start(ctx context.Context, name string, kind providers.SpanKind, attrs []providers.Attr) (context.Context, *Span) {
	sp := s.newSpan(SpanContextFrom(ctx), name, kind, attrs)
	return context.WithValue(ctx, spanKey{}, sp), sp
}

// StartChild is Start for spans that only make sense inside another one
// (database and cache calls): without a span in ctx it starts nothing, so
// that background work (health checks) does not make root spans.
func (s *Service) StartChild(ctx context.Context, name string, kind providers.SpanKind, attrs ...providers.Attr) (context.Context, *Span) {
	if s == nil || len(s.tracers) == 0 {
		return ctx, nil
	}
	parent := SpanContextFrom(ctx)
	if !parent.IsValid() {
		return ctx, nil
	}
	sp := s.newSpan(parent, name, kind, attrs)
	return context.WithValue(ctx, spanKey{}, sp), sp
}

func (s *Service) newSpan(parent providers.SpanContext, name string, kind providers.SpanKind, attrs []providers.Attr) *Span {
	sc := providers.SpanContext{Sampled: true}
	if parent.IsValid() {
		sc.TraceID, sc.Parent, sc.Sampled, sc.TraceState = parent.TraceID, parent.SpanID, parent.Sampled, parent.TraceState
	} else {
		for !sc.TraceID.IsValid() {
			putUint64(sc.TraceID[:8], rand.Uint64())
			putUint64(sc.TraceID[8:], rand.Uint64())
		}
	}
	for !sc.SpanID.IsValid() {
		putUint64(sc.SpanID[:], rand.Uint64())
	}
	sp := &Span{svc: s}
	sp.data = providers.SpanData{Name: name, Kind: kind, Context: sc, Start: time.Now()}
	if len(attrs) > 0 {
		sp.data.Attrs = append(sp.data.Attrs, attrs...)
	}
	return sp
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// SpanFromContext returns the span ctx carries, or nil.
func SpanFromContext(ctx context.Context) *Span {
	sp, _ := ctx.Value(spanKey{}).(*Span)
	return sp
}

// SpanContextFrom returns the context of the span in ctx, else the remote
// parent in ctx, else the zero (invalid) context.
func SpanContextFrom(ctx context.Context) providers.SpanContext {
	if sp := SpanFromContext(ctx); sp != nil {
		return sp.Context()
	}
	sc, _ := ctx.Value(remoteKey{}).(providers.SpanContext)
	return sc
}

// ContextWithRemote returns ctx carrying a parent that arrived from another
// process; the next span started from it becomes its child.
func ContextWithRemote(ctx context.Context, sc providers.SpanContext) context.Context {
	return context.WithValue(ctx, remoteKey{}, sc)
}

// Extract reads the W3C traceparent and tracestate headers; ok is false when
// there is no valid traceparent.
func Extract(h http.Header) (providers.SpanContext, bool) {
	sc, ok := providers.ParseTraceparent(h.Get(providers.TraceparentHeader))
	if ok {
		sc.TraceState = h.Get(providers.TracestateHeader)
	}
	return sc, ok
}

// Inject writes the trace context of ctx into h (traceparent and
// tracestate), for a request to a downstream service. It writes nothing when
// ctx carries no trace.
func Inject(ctx context.Context, h http.Header) {
	sc := SpanContextFrom(ctx)
	if !sc.IsValid() {
		return
	}
	h.Set(providers.TraceparentHeader, sc.Traceparent())
	if sc.TraceState != "" {
		h.Set(providers.TracestateHeader, sc.TraceState)
	}
}

// Context returns the span's trace context.
func (sp *Span) Context() providers.SpanContext {
	if sp == nil {
		return providers.SpanContext{}
	}
	return sp.data.Context // immutable after start
}

// SetName renames the span (the HTTP middleware names it once the route is
// known).
func (sp *Span) SetName(name string) {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	if !sp.ended {
		sp.data.Name = name
	}
	sp.mu.Unlock()
}

// SetAttributes adds attributes.
func (sp *Span) SetAttributes(attrs ...providers.Attr) {
	if sp == nil {
		return
	}
	sp.setAttributes(attrs)
}

//go:noinline
func (sp *Span) setAttributes(attrs []providers.Attr) {
	sp.mu.Lock()
	if !sp.ended {
		sp.data.Attrs = append(sp.data.Attrs, attrs...)
	}
	sp.mu.Unlock()
}

// AddEvent records a timestamped event within the span.
func (sp *Span) AddEvent(name string, attrs ...providers.Attr) {
	if sp == nil {
		return
	}
	sp.addEvent(name, attrs)
}

func (sp *Span) addEvent(name string, attrs []providers.Attr) {
	ev := providers.SpanEvent{Name: name, Time: time.Now(), Attrs: append([]providers.Attr(nil), attrs...)}
	sp.mu.Lock()
	if !sp.ended {
		sp.data.Events = append(sp.data.Events, ev)
	}
	sp.mu.Unlock()
}

// SetStatus sets the span's outcome; the message goes with an error status.
func (sp *Span) SetStatus(code providers.SpanStatus, msg string) {
	if sp == nil {
		return
	}
	sp.mu.Lock()
	if !sp.ended {
		sp.data.Status, sp.data.StatusMessage = code, msg
	}
	sp.mu.Unlock()
}

// RecordError marks the span failed with err and adds an "exception" event.
func (sp *Span) RecordError(err error) {
	if sp == nil || err == nil {
		return
	}
	sp.addEvent("exception", []providers.Attr{providers.StringAttr("exception.message", err.Error())})
	sp.SetStatus(providers.SpanStatusError, err.Error())
}

// End finishes the span and, when sampled, hands it to every tracing
// provider. Calls after the first do nothing.
func (sp *Span) End() {
	if sp == nil {
		return
	}
	sp.end()
}

//go:noinline
func (sp *Span) end() {
	sp.mu.Lock()
	if sp.ended {
		sp.mu.Unlock()
		return
	}
	sp.ended = true
	sp.data.End = time.Now()
	sp.mu.Unlock()
	if !sp.data.Context.Sampled {
		return
	}
	for _, t := range sp.svc.tracers {
		t.ExportSpan(&sp.data)
	}
}
