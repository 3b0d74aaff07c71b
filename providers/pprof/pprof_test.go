package pprof

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func TestAdminListenerAndProfiles(t *testing.T) {
	o, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"pprof.listen": "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	p := o.(*Provider)
	for path, want := range map[string]string{
		"/debug/pprof/":                  "goroutine",
		"/debug/pprof/cmdline":           "pprof.test",
		"/debug/pprof/goroutine?debug=1": "goroutine profile:",
		"/debug/pprof/heap?debug=1":      "heap profile:",
		"/debug/pprof/symbol":            "num_symbols",
		"/debug/pprof/profile?seconds=1": "", // binary
	} {
		resp, err := http.Get("http://" + p.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) || len(body) == 0 {
			t.Errorf("GET %s = %d, %d bytes, want %q", path, resp.StatusCode, len(body), want)
		}
	}
	for _, name := range []string{"cpu", "heap", "goroutine"} {
		s, err := p.StartProfiling(name)
		if err != nil {
			t.Fatal(err)
		}
		data, err := s.Stop()
		if err != nil || len(data) == 0 {
			t.Errorf("%s profile: %d bytes, %v", name, len(data), err)
		}
	}
	if _, err := p.StartProfiling("nonsense"); err == nil || !strings.Contains(err.Error(), "heap") {
		t.Errorf("unknown profile: %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + p.Addr() + "/debug/pprof/"); err == nil {
		t.Error("the admin listener still answers after Shutdown")
	}
	if o, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"pprof.listen": ""}}); o != nil || err != nil {
		t.Errorf("empty listen: %v %v", o, err)
	}
	if _, err := Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"pprof.listen": "256.0.0.1:1"}}); err == nil {
		t.Error("a bad address was accepted")
	}
}
