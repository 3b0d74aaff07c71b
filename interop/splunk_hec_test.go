package interop

// Helpers that run a real Splunk HEC implementation in-process: the
// OpenTelemetry Collector contrib splunkhecreceiver, with the bearer token
// authenticator (scheme "Splunk") checking the token and, on request, the
// ack extension doing indexer acknowledgement.

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/ackextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/splunkhecreceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/navius-dev/navius/internal/harness"
)

// splunkHEC is a running splunkhecreceiver.
type splunkHEC struct {
	Addr string // host:port
	URL  string // http://host:port, the HEC base URL
	Logs *consumertest.LogsSink

	rcv  receiver.Logs
	exts []component.Component
}

type splunkHECOptions struct {
	Token string
	Ack   bool
	// Addr to listen on; "" picks a free loopback port.
	Addr string
	// Logs collects what arrives; nil makes a new sink.
	Logs *consumertest.LogsSink
}

type splunkHost struct {
	ext map[component.ID]component.Component
}

func (h splunkHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// startSplunkHEC starts the receiver; it stops when the test ends.
func startSplunkHEC(t testing.TB, o splunkHECOptions) *splunkHEC {
	t.Helper()
	ctx := context.Background()
	if o.Addr == "" {
		o.Addr = harness.Addr(t)
	}
	if o.Logs == nil {
		o.Logs = new(consumertest.LogsSink)
	}
	h := &splunkHEC{Addr: o.Addr, URL: "http://" + o.Addr, Logs: o.Logs}
	host := splunkHost{ext: map[component.ID]component.Component{}}

	f := splunkhecreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*splunkhecreceiver.Config)
	cfg.NetAddr.Endpoint = o.Addr

	if o.Token != "" {
		bf := bearertokenauthextension.NewFactory()
		bcfg := bf.CreateDefaultConfig().(*bearertokenauthextension.Config)
		bcfg.Scheme = "Splunk"
		bcfg.BearerToken = configopaque.String(o.Token)
		id := component.MustNewID("bearertokenauth")
		ext, err := bf.Create(ctx, extensiontest.NewNopSettings(bf.Type()), bcfg)
		if err != nil {
			t.Fatal(err)
		}
		host.ext[id] = ext
		auth := confighttp.AuthConfig{}
		auth.AuthenticatorID = id
		cfg.Auth = configoptional.Some(auth)
	}
	if o.Ack {
		af := ackextension.NewFactory()
		id := component.MustNewID("ack")
		ext, err := af.Create(ctx, extensiontest.NewNopSettings(af.Type()), af.CreateDefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		host.ext[id] = ext
		cfg.Ack.Extension = &id
	}
	for _, ext := range host.ext {
		if err := ext.Start(ctx, host); err != nil {
			t.Fatal(err)
		}
		h.exts = append(h.exts, ext)
	}
	rcv, err := f.CreateLogs(ctx, receivertest.NewNopSettings(f.Type()), cfg, o.Logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	h.rcv = rcv
	t.Cleanup(h.Stop)
	// Wait until it answers its health endpoint.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, h.URL+"/services/collector/health", nil)
		req.Header.Set("Authorization", "Splunk "+o.Token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEC receiver on %s does not answer: %v", o.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return h
}

// Stop shuts the receiver down (idempotent).
func (h *splunkHEC) Stop() {
	if h.rcv == nil {
		return
	}
	ctx := context.Background()
	_ = h.rcv.Shutdown(ctx)
	for _, e := range h.exts {
		_ = e.Shutdown(ctx)
	}
	h.rcv, h.exts = nil, nil
}

// splunkRecord is one log record the receiver produced from an HEC event.
type splunkRecord struct {
	Time     time.Time
	Body     map[string]any // the event object
	Attrs    map[string]any // the indexed fields
	Resource map[string]any // host.name, com.splunk.source, ...
}

// splunkRecords flattens what the receiver consumed; batches[i] is the
// number of records of the i-th request.
func splunkRecords(sink *consumertest.LogsSink) (recs []splunkRecord, batches []int) {
	for _, ld := range sink.AllLogs() {
		n := 0
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			res := rl.Resource().Attributes().AsRaw()
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					recs = append(recs, toSplunkRecord(lrs.At(k), res))
					n++
				}
			}
		}
		batches = append(batches, n)
	}
	return recs, batches
}

func toSplunkRecord(lr plog.LogRecord, res map[string]any) splunkRecord {
	r := splunkRecord{Time: lr.Timestamp().AsTime(), Attrs: lr.Attributes().AsRaw(), Resource: res}
	if m, ok := lr.Body().AsRaw().(map[string]any); ok {
		r.Body = m
	}
	return r
}

// splunkRecorder is a reverse proxy in front of the receiver that records
// each request's path, Content-Encoding and decompressed size.
type splunkRecorder struct {
	URL  string
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	Path, Encoding string
	RawBytes       int
}

func recordSplunk(t testing.TB, target string) *splunkRecorder {
	t.Helper()
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec := &splunkRecorder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw := body
		if r.Header.Get("Content-Encoding") == "gzip" {
			if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
				raw, _ = io.ReadAll(zr)
			}
		}
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recordedRequest{Path: r.URL.Path, Encoding: r.Header.Get("Content-Encoding"), RawBytes: len(raw)})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	rec.URL = "http://" + ln.Addr().String()
	return rec
}

func (r *splunkRecorder) requests(path string) []recordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedRequest
	for _, q := range r.reqs {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}
