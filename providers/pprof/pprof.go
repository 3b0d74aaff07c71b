// Package pprof is navius's profiling provider: the standard net/http/pprof
// endpoints on a separate admin listener (loopback by default), never on the
// API listener, and programmatic profiles through runtime/pprof.
package pprof

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Options are the provider's config options.
var Options = []providers.Option{
	{Key: "pprof.listen", Type: providers.Address, Default: "127.0.0.1:6060",
		Description: "Address of the admin listener that serves /debug/pprof/ (never the API listener); empty turns it off. Not the API's address; beyond loopback only with authentication on (it then needs the admin scope), and keep it on loopback anyway: profiles reveal the program's internals. It serves TLS with the API's certificate when server.tls.* is set."},
}

// Provider is a running admin listener.
type Provider struct {
	addr     string
	shutdown func(context.Context) error
}

// Open starts the admin listener on pprof.listen; it returns nil when the
// option is empty.
func Open(_ context.Context, cfg providers.ObservabilityConfig) (providers.Observer, error) {
	addr := cfg.Settings.String("pprof.listen")
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof.listen %s: %w (pick another address, or set it empty to turn the admin listener off)", addr, unwrapOp(err))
	}
	h := Handler()
	if cfg.Guard != nil {
		h = cfg.Guard(h)
	}
	p := &Provider{addr: ln.Addr().String()}
	if cfg.Serve != nil { // as navius serves its API
		p.shutdown = cfg.Serve(ln, h)
	} else {
		p.shutdown = providers.Serve(&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, TLSConfig: cfg.TLS}, ln)
	}
	if cfg.Log != nil {
		over := "HTTP"
		if cfg.TLS != nil {
			over = "TLS"
		}
		cfg.Log.Infof("pprof: admin listener serving /debug/pprof/ on %s over %s", p.addr, over)
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			cfg.Log.Warnf("pprof: the admin listener %s is reachable beyond loopback: anyone who reaches it can read profiles of this process", p.addr)
		}
	}
	return p, nil
}

// Addr is the admin listener's bound address.
func (p *Provider) Addr() string { return p.addr }

// Handler serves the standard pprof endpoints under /debug/pprof/ on a mux
// of its own (not http.DefaultServeMux).
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	return mux
}

// Shutdown stops the admin listener; profiles in progress are cut off when
// ctx ends.
func (p *Provider) Shutdown(ctx context.Context) error { return p.shutdown(ctx) }

// StartProfiling starts a CPU profile ("cpu") or arranges a snapshot of a
// runtime profile (heap, goroutine, allocs, block, mutex, threadcreate) at
// Stop.
func (p *Provider) StartProfiling(name string) (providers.ProfilingSession, error) {
	return Start(name)
}

var cpuMu sync.Mutex // one CPU profile at a time, as runtime/pprof allows

// Start is StartProfiling without a provider.
func Start(name string) (providers.ProfilingSession, error) {
	if name == "cpu" {
		s := &cpuSession{}
		if err := pprof.StartCPUProfile(&s.buf); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		return s, nil
	}
	if pprof.Lookup(name) == nil {
		var names []string
		for _, pr := range pprof.Profiles() {
			names = append(names, pr.Name())
		}
		return nil, fmt.Errorf("no profile %q (there are: cpu, %v)", name, names)
	}
	return snapshot(name), nil
}

type cpuSession struct {
	buf     bytes.Buffer
	stopped bool
}

func (s *cpuSession) Stop() ([]byte, error) {
	cpuMu.Lock()
	defer cpuMu.Unlock()
	if s.stopped {
		return nil, errors.New("cpu profile already stopped")
	}
	s.stopped = true
	pprof.StopCPUProfile()
	return s.buf.Bytes(), nil
}

type snapshot string

func (s snapshot) Stop() ([]byte, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup(string(s)).WriteTo(&buf, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
