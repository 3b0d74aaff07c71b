package interop

// Helpers of the Dynatrace interop tests: a real OTLP receiver (the
// OpenTelemetry Collector's otlpreceiver, in process) on the path Dynatrace
// uses, and a navius binary built with the dynatrace feature.

import (
	"context"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/navius-dev/navius/internal/harness"
)

// DynatraceOTLPPath is where Dynatrace takes OTLP traces.
const DynatraceOTLPPath = "/api/v2/otlp/v1/traces"

// otlpSink keeps the traces the receiver hands on, with the Authorization
// header each request carried.
type otlpSink struct {
	mu     sync.Mutex
	traces []ptrace.Traces
	auth   []string
}

func (s *otlpSink) consume(ctx context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.traces = append(s.traces, td)
	s.auth = append(s.auth, strings.Join(client.FromContext(ctx).Metadata.Get("Authorization"), ","))
	return nil
}

// dtSpan is a received span, flattened.
type dtSpan struct {
	TraceID, SpanID, Parent string
	Name, Kind              string
	Attrs                   map[string]any
	Resource                map[string]any
	Scope                   string
}

func (s *otlpSink) spans() []dtSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dtSpan
	for _, td := range s.traces {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			res := rs.Resource().Attributes().AsRaw()
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j)
				for k := 0; k < ss.Spans().Len(); k++ {
					sp := ss.Spans().At(k)
					parent := ""
					if !sp.ParentSpanID().IsEmpty() {
						parent = sp.ParentSpanID().String()
					}
					out = append(out, dtSpan{
						TraceID: sp.TraceID().String(), SpanID: sp.SpanID().String(), Parent: parent,
						Name: sp.Name(), Kind: sp.Kind().String(), Attrs: sp.Attributes().AsRaw(),
						Resource: res, Scope: ss.Scope().Name(),
					})
				}
			}
		}
	}
	return out
}

func (s *otlpSink) authHeaders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

// startOTLPReceiver runs the Collector's OTLP receiver (HTTP only) on a free
// loopback port with traces_url_path set to Dynatrace's path, and returns
// its base URL.
func startOTLPReceiver(t *testing.T) (string, *otlpSink) {
	t.Helper()
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	cfg.GRPC = configoptional.None[configgrpc.ServerConfig]() // Dynatrace takes OTLP over HTTP only
	http := cfg.HTTP.GetOrInsertDefault()
	addr := harness.Addr(t)
	http.ServerConfig.NetAddr.Endpoint = addr
	http.ServerConfig.IncludeMetadata = true
	http.TracesURLPath = DynatraceOTLPPath
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sink := &otlpSink{}
	next, err := consumer.NewTraces(sink.consume)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	return "http://" + addr, sink
}
