package prometheus

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/navius-dev/navius/providers"
)

func TestNamesAndExposition(t *testing.T) {
	collected := 0
	p := New(func(context.Context) { collected++ })
	metrics := []providers.Metric{
		{Name: "http_requests", Kind: providers.Counter, Help: "Requests.", Labels: []string{"route", "code"}},
		{Name: "http_request_duration", Kind: providers.Histogram, Unit: "seconds", Help: "Latency.", Labels: []string{"route"}},
		{Name: "cache_size", Kind: providers.Gauge, Unit: "bytes", Help: "Size.", Labels: []string{"provider"}},
	}
	var insts []providers.Instrument
	for _, m := range metrics {
		in, err := p.Instrument(m)
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, in)
	}
	insts[0].Record(2, []string{"/api/v1/{collection}/{key}", "200"})
	insts[0].Record(-1, []string{"/api/v1/{collection}/{key}", "200"}) // a counter never goes down
	insts[0].Record(1, []string{"too few labels"})                     // ignored, no panic
	insts[1].Record(0.003, []string{"/health"})
	insts[2].Record(4096, []string{"memory"})

	// A bound series records into the same series as Record; labels that
	// do not fit bind nothing.
	for i, lv := range [][]string{{"/api/v1/{collection}/{key}", "200"}, {"/health"}, {"memory"}} {
		b, ok := insts[i].(providers.SeriesBinder)
		if !ok {
			t.Fatalf("%s cannot bind a series", metrics[i].Name)
		}
		if b.Bind([]string{"a", "b", "c"}) != nil {
			t.Errorf("%s bound a series with the wrong label count", metrics[i].Name)
		}
		series := b.Bind(lv)
		switch i {
		case 0:
			series.Record(3)
			series.Record(-1) // never down
		case 1:
			series.Record(0.2)
		case 2:
			series.Record(8192)
		}
	}

	// Declaring the same metric again shares it; another kind under the
	// same name is refused.
	if again, err := p.Instrument(metrics[0]); err != nil {
		t.Fatal(err)
	} else {
		again.Record(1, []string{"/api/v1/{collection}/{key}", "200"})
	}
	if _, err := p.Instrument(providers.Metric{Name: "http_requests_total", Kind: providers.Gauge, Help: "Requests.", Labels: []string{"route", "code"}}); err == nil {
		t.Error("a gauge named like the counter was accepted")
	}

	ts := httptest.NewServer(p.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`navius_http_requests_total{code="200",route="/api/v1/{collection}/{key}"} 6`,
		`navius_http_request_duration_seconds_bucket{route="/health",le="0.005"} 1`,
		`navius_http_request_duration_seconds_bucket{route="/health",le="0.25"} 2`,
		`navius_cache_size_bytes{provider="memory"} 8192`,
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if collected != 1 {
		t.Errorf("collect ran %d times for one scrape", collected)
	}
	if problems, err := testutil.GatherAndLint(p.Registry()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
	if resp, _ := http.Post(ts.URL, "text/plain", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics = %d", resp.StatusCode)
	}
}

func TestOpenHonoursOptions(t *testing.T) {
	if o, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"prometheus.enabled": "false"}}); o != nil || err != nil {
		t.Errorf("disabled: %v %v", o, err)
	}
	o, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"prometheus.enabled": "true", "prometheus.path": "/stats"}})
	if err != nil || o.(*Provider).Handlers()["GET /stats"] == nil {
		t.Errorf("path: %v %v", o, err)
	}
	if _, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"prometheus.enabled": "true", "prometheus.path": "metrics"}}); err == nil {
		t.Error("a path without / was accepted")
	}
	// The server's own endpoints are refused by the check config check runs.
	for _, path := range []string{"/health", "/info", "/readyz", "/livez", "/", "/api/v1/x"} {
		err := Check(providers.Settings{"prometheus.enabled": "true", "prometheus.path": path})
		if !errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), "server's own") {
			t.Errorf("prometheus.path %s: %v", path, err)
		}
	}
	if err := Check(providers.Settings{"prometheus.enabled": "false", "prometheus.path": "/health"}); err != nil {
		t.Errorf("a path of a disabled provider is checked: %v", err)
	}
}
