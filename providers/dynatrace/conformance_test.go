package dynatrace

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	collectorpb "go.opentelemetry.io/proto/slim/otlp/collector/trace/v1"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// dtBackend is a Metrics API v2 (fakeAPI, which checks every line against
// the documented grammar) and an OTLP/HTTP traces endpoint on one server.
type dtBackend struct {
	metrics *fakeAPI
	mu      sync.Mutex
	spans   []providers.SpanContext
}

func (b *dtBackend) traces(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, _ := io.ReadAll(body)
	var req collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				var sc providers.SpanContext
				copy(sc.TraceID[:], s.TraceId)
				copy(sc.SpanID[:], s.SpanId)
				copy(sc.Parent[:], s.ParentSpanId)
				b.spans = append(b.spans, sc)
			}
		}
	}
	b.mu.Unlock()
	out, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// value sums what the accepted lines say about one series: counter deltas
// and summary sums add up, a gauge keeps its last value.
func (b *dtBackend) value(m providers.Metric, labels []string) (providertest.MetricValue, bool) {
	_, accepted := b.metrics.snapshot()
	var v providertest.MetricValue
	found := false
	for _, line := range accepted {
		head, rest, _ := cutUnescaped(line)
		key, dims, err := splitDims(head)
		if err != nil || key != MetricKey(m) || !hasDims(dims, m.Labels, labels) {
			continue
		}
		found = true
		payload, _, _ := strings.Cut(rest, " ")
		switch {
		case strings.HasPrefix(payload, "count,delta="):
			n, _ := strconv.ParseFloat(strings.TrimPrefix(payload, "count,delta="), 64)
			v.Value += n
		case strings.HasPrefix(payload, "gauge,min="):
			for _, kv := range strings.Split(strings.TrimPrefix(payload, "gauge,"), ",") {
				k, x, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseFloat(x, 64)
				switch k {
				case "sum":
					v.Value += n
				case "count":
					v.Count += uint64(n)
				}
			}
		case strings.HasPrefix(payload, "gauge,"):
			v.Value, _ = strconv.ParseFloat(strings.TrimPrefix(payload, "gauge,"), 64)
		}
	}
	return v, found
}

func hasDims(dims, names, values []string) bool {
	have := map[string]bool{}
	for _, d := range dims {
		have[d] = true
	}
	for i, n := range names {
		if !have[n+"="+values[i]] && !have[n+`="`+values[i]+`"`] {
			return false
		}
	}
	return true
}

func TestObserverConformance(t *testing.T) {
	var mu sync.Mutex
	backends := map[providers.Observer]*dtBackend{}
	backendOf := func(o providers.Observer) *dtBackend {
		mu.Lock()
		defer mu.Unlock()
		return backends[o]
	}
	providertest.RunObserverTests(t, providertest.ObserverHarness{
		Open: func(t *testing.T) providers.Observer {
			b := &dtBackend{metrics: &fakeAPI{t: t, path: "/api/v2/metrics/ingest"}}
			mux := http.NewServeMux()
			mux.Handle("/api/v2/metrics/ingest", b.metrics)
			mux.HandleFunc("/api/v2/otlp/v1/traces", b.traces)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			// A loopback endpoint is taken for a local OneAgent: no token.
			o, err := Open(t.Context(), providers.ObservabilityConfig{
				ServiceName: "navius", Version: "conformance",
				Settings: providers.Settings{
					"dynatrace.endpoint": srv.URL, "dynatrace.metrics": "true", "dynatrace.traces": "true",
					"dynatrace.push_interval": "1h", "dynatrace.trace_flush_interval": "1h", "dynatrace.timeout": "5s",
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			backends[o] = b
			mu.Unlock()
			return o
		},
		Metric: func(t *testing.T, o providers.Observer, m providers.Metric, labels []string) (providertest.MetricValue, bool) {
			o.(*Provider).Push(t.Context())
			return backendOf(o).value(m, labels)
		},
		Spans: func(t *testing.T, o providers.Observer) []providers.SpanContext {
			b := backendOf(o)
			b.mu.Lock()
			defer b.mu.Unlock()
			return append([]providers.SpanContext(nil), b.spans...)
		},
	})
}
