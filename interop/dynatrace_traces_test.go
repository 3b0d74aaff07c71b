package interop

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
)

// dynatraceFront stands for a Dynatrace environment at one URL: OTLP traces
// go on to the real OTLP receiver; metric lines are kept and answered 202.
type dynatraceFront struct {
	mu    sync.Mutex
	lines []string
	auth  []string
}

func (d *dynatraceFront) handler(otlp string) http.Handler {
	target, _ := url.Parse(otlp)
	proxy := httputil.NewSingleHostReverseProxy(target)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/metrics/ingest" {
			body, _ := io.ReadAll(r.Body)
			lines := strings.Split(string(body), "\n")
			d.mu.Lock()
			d.lines = append(d.lines, lines...)
			d.auth = append(d.auth, r.Header.Get("Authorization"))
			d.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"linesOk":`+itoa(len(lines))+`,"linesInvalid":0,"error":null}`)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestDynatraceTracesReachOTLPReceiver runs navius built with dynatrace
// against the Collector's OTLP receiver: request spans arrive with the right
// names, parents and resource, and the W3C traceparent makes the round trip
// (the caller's trace continues, the response names the server span).
func TestDynatraceTracesReachOTLPReceiver(t *testing.T) {
	otlp, sink := startOTLPReceiver(t)
	front := &dynatraceFront{}
	env := httptest.NewServer(front.handler(otlp))
	defer env.Close()

	bin := harness.BuildT(t, "default,dynatrace", "v0.0.0-interop")
	p := harness.Serve(t, bin, t.TempDir(), []string{
		"NAVIUS_DATABASE_URL=memory://",
		"NAVIUS_DYNATRACE_ENDPOINT=" + env.URL,
		"NAVIUS_DYNATRACE_TOKEN=dt0c01.interop-token",
		"NAVIUS_DYNATRACE_TRACE_FLUSH_INTERVAL=100ms",
		"NAVIUS_DYNATRACE_PUSH_INTERVAL=1h", // metrics go on shutdown
	})

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const callerSpan = "00f067aa0ba902b7"
	code, put, _ := harness.Request(t, "PUT", p.URL+"/api/v1/pets/tom", `{"kind":"cat"}`, "traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
	if code != 204 {
		t.Fatalf("PUT = %d", code)
	}
	putCtx, ok := providers.ParseTraceparent(put.Get("traceparent"))
	if !ok || putCtx.TraceID.String() != callerTrace || putCtx.SpanID.String() == callerSpan || !putCtx.Sampled {
		t.Fatalf("response traceparent %q does not continue the caller's trace with a span of its own", put.Get("traceparent"))
	}
	_, get, _ := harness.Request(t, "GET", p.URL+"/api/v1/pets/tom", "")
	getCtx, ok := providers.ParseTraceparent(get.Get("traceparent"))
	if !ok || getCtx.TraceID.String() == callerTrace {
		t.Fatalf("a request without traceparent should start a new trace; response says %q", get.Get("traceparent"))
	}

	// Wait for the spans of both requests.
	var spans []dtSpan
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans = sink.spans()
		if count(spans, putCtx.TraceID.String()) >= 3 && count(spans, getCtx.TraceID.String()) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans received: %+v\nnavius log:\n%s", spans, p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	byID := map[string]dtSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}

	// The PUT: a server span that is the child of the caller's span, with
	// the ID the response named; database and cache spans beneath it.
	srv, ok := byID[putCtx.SpanID.String()]
	if !ok {
		t.Fatalf("no span with the ID %s from the response traceparent", putCtx.SpanID)
	}
	if srv.Name != "PUT /api/v1/{collection}/{key}" || srv.Kind != "Server" || srv.Parent != callerSpan || srv.TraceID != callerTrace {
		t.Errorf("server span %+v; want PUT /api/v1/{collection}/{key}, Server, parent %s", srv, callerSpan)
	}
	if srv.Attrs["http.route"] != "/api/v1/{collection}/{key}" || srv.Attrs["http.response.status_code"] != int64(204) {
		t.Errorf("server span attributes %v", srv.Attrs)
	}
	if srv.Resource["service.name"] != "navius" || srv.Resource["service.version"] != "v0.0.0-interop" {
		t.Errorf("resource %v", srv.Resource)
	}
	children := childNames(spans, srv.SpanID)
	if !containsAll(children, "database.set", "cache.delete") {
		t.Errorf("children of the PUT span: %v", children)
	}
	for _, s := range spans {
		if s.Parent == srv.SpanID && (s.TraceID != callerTrace || s.Kind != "Client" || s.Attrs["db.system"] == nil) {
			t.Errorf("child span %+v", s)
		}
	}

	// The GET: a root server span with the read-through calls beneath.
	root, ok := byID[getCtx.SpanID.String()]
	if !ok || root.Parent != "" || root.Name != "GET /api/v1/{collection}/{key}" {
		t.Fatalf("GET server span %+v", root)
	}
	if children := childNames(spans, root.SpanID); !containsAll(children, "cache.get", "database.get", "cache.set") {
		t.Errorf("children of the GET span: %v", children)
	}
	for _, a := range sink.authHeaders() {
		if a != "Api-Token dt0c01.interop-token" {
			t.Errorf("OTLP request Authorization = %q", a)
		}
	}

	// The dynatrace indicator is in /health and, not being critical, does
	// not decide the overall status.
	hresp, err := http.Get(p.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	hbody, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	if hresp.StatusCode != 200 || !strings.Contains(string(hbody), `"dynatrace"`) || strings.Contains(string(hbody), "interop-token") {
		t.Errorf("/health = %d %s", hresp.StatusCode, hbody)
	}

	// Shutdown pushes the metrics, in line protocol with the same token.
	p.MustStop(t)
	front.mu.Lock()
	defer front.mu.Unlock()
	text := strings.Join(front.lines, "\n")
	if !strings.Contains(text, "navius.http_requests,") || !strings.Contains(text, "route=/api/v1/{collection}/{key}") || !strings.Contains(text, " count,delta=") {
		t.Errorf("metric lines pushed on shutdown:\n%s\nlog:\n%s", text, p.Logs())
	}
	for _, a := range front.auth {
		if a != "Api-Token dt0c01.interop-token" {
			t.Errorf("metrics request Authorization = %q", a)
		}
	}
	if strings.Contains(p.Logs(), "interop-token") {
		t.Error("the token appears in the log")
	}
}

func count(spans []dtSpan, trace string) int {
	n := 0
	for _, s := range spans {
		if s.TraceID == trace {
			n++
		}
	}
	return n
}

func childNames(spans []dtSpan, parent string) []string {
	var out []string
	for _, s := range spans {
		if s.Parent == parent {
			out = append(out, s.Name)
		}
	}
	return out
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
