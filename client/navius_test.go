package client_test

import (
	"context"
	"io"
	"net/http/httptest"
	"time"

	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/server"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/internal/watch"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// navius is navius's own HTTP handler on the memory database, with watch
// streams, wired as navius serve wires them, in an httptest server.
type navius struct {
	*httptest.Server
	hub *watch.Hub
	st  *store.Store
}

func startNavius(opts watch.Options) *navius {
	if opts.MaxWatchers == 0 {
		opts.MaxWatchers = 100
	}
	if opts.Buffer == 0 {
		opts.Buffer = 256
	}
	if opts.History == 0 {
		opts.History = 1024
	}
	var st *store.Store
	hub := watch.New(opts, func(c, k string) (providers.Entry, error) { return st.Latest(context.Background(), c, k) })
	st = store.New(memory.NewDatabase(), nil, store.Options{Timeout: 5 * time.Second, Publish: hub})
	logs, _ := logging.NewService(logging.Options{Out: io.Discard})
	s := server.New(server.Deps{Store: st, Health: health.New(time.Second, 0, "v1"), Log: logs.Logger(), MaxBody: 1 << 20,
		MaxTTL: time.Hour, MaxBatchOps: 100, MaxBatchBytes: 1 << 20, Watch: hub})
	s.SetReady(true)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.RegisterOnShutdown(hub.Close)
	ts.Start()
	return &navius{Server: ts, hub: hub, st: st}
}

func (n *navius) Close() {
	n.hub.Close()
	n.Server.Close()
	_ = n.st.Close()
}

// sweep reclaims expired entries now, as the server's sweeper does every
// database.sweep_interval.
func (n *navius) sweep() { _, _ = n.st.Sweep(context.Background(), 1000) }
