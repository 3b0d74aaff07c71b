package interop

// Helpers of the Dynatrace interop tests: a real OTLP receiver (the
// OpenTelemetry Collector's otlpreceiver, in process) on the path Dynatrace
// uses, and a navius binary built with the dynatrace feature.

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
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
	addr := freeAddr(t)
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildNavius builds navius with FEATURES=spec the way make build does.
func buildNavius(t *testing.T, spec string) string {
	t.Helper()
	root, err := build.FindSource("..")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join(root, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := m.Resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "navius")
	plan, err := build.NewPlan(build.Options{Source: root, Selection: sel, Output: out, Version: "v0.0.0-interop"})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if _, err := plan.Run(context.Background(), &log); err != nil {
		t.Fatalf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	return out
}

// naviusProc is a running navius serve.
type naviusProc struct {
	cmd  *exec.Cmd
	URL  string
	mu   sync.Mutex
	logs strings.Builder
	done chan error
}

func (p *naviusProc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startNavius runs bin serve on a free loopback port with env added and
// waits until it serves.
func startNavius(t *testing.T, bin string, env ...string) *naviusProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--database-url", "memory://")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &naviusProc{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			var e struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "navius is serving" {
				addr <- e.Addr
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case err := <-p.done:
		t.Fatalf("navius exited before serving: %v\n%s", err, p.Logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("navius did not start within 20s\n%s", p.Logs())
	}
	return p
}

// stop sends SIGTERM and waits for the exit.
func (p *naviusProc) stop(t *testing.T) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("navius did not stop within 30s of SIGTERM\n%s", p.Logs())
	}
	return nil
}
