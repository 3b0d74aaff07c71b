package app

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/internal/server"
	"github.com/navius-dev/navius/providers"
)

// listeners builds the HTTP servers of navius's listeners, the API's and
// pprof's, alike: the server.* timeouts, connection limits, Go's own error
// log through navius's (rate limited), and, for the admin listener, the
// access log and request IDs. It keeps the listeners for their metrics.
type listeners struct {
	s      providers.Settings
	log    *logrus.Logger
	access *logging.AccessLog
	tls    *tls.Config

	mu   sync.Mutex
	all  []*limits.Listener
	shed func() (inflight, connections uint64)
}

// apiLimits are the API listener's connection bounds.
func apiLimits(s providers.Settings, log *logrus.Logger) limits.Config {
	n := s.Int("server.max_connections")
	perIP := s.Int("server.max_connections_per_ip")
	if perIP == 0 {
		perIP = limits.DefaultPerIP(n)
	}
	return limits.Config{Name: "api", Max: n, PerIP: perIP, Reserve: limits.ProbeReserve(n), Log: log}
}

// adminLimits are the admin listener's: the share kept for it, a quarter
// of it per client.
func adminLimits(log *logrus.Logger) limits.Config {
	return limits.Config{Name: "admin", Max: limits.AdminConnections, PerIP: limits.AdminConnections / 4, Log: log}
}

// server returns the http.Server for h on ln, wrapped with cfg's bounds.
func (ls *listeners) server(ln net.Listener, cfg limits.Config, h http.Handler) (*http.Server, net.Listener) {
	l := limits.NewListener(ln, cfg)
	ls.mu.Lock()
	ls.all = append(ls.all, l)
	ls.mu.Unlock()
	s := ls.s
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.Duration("server.read_header_timeout"),
		ReadTimeout:       s.Duration("server.read_timeout"),
		WriteTimeout:      s.Duration("server.write_timeout"),
		IdleTimeout:       s.Duration("server.idle_timeout"),
		ConnState:         l.ConnState,
		ConnContext:       l.ConnContext,
		ErrorLog:          limits.ServerLog(ls.log),
		TLSConfig:         ls.tls,
	}, l
}

// serveAdmin is providers.ObservabilityConfig.Serve: it serves a
// provider's own listener (pprof's) as the API's is served.
func (ls *listeners) serveAdmin(ln net.Listener, h http.Handler) func(context.Context) error {
	srv, l := ls.server(ln, adminLimits(ls.log), nil)
	// A CPU profile or a trace runs for ?seconds= before it writes: the
	// write timeout starts after them. net/http/pprof refuses a duration
	// beyond the server's WriteTimeout, so the server has none and each
	// request sets its own deadline.
	wt := srv.WriteTimeout
	srv.WriteTimeout = 0
	framed := server.Framed(h, ls.log, ls.access)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := wt
		if secs, err := strconv.Atoi(r.URL.Query().Get("seconds")); err == nil && secs > 0 && secs < 3600 {
			d += time.Duration(secs) * time.Second
		} else if r.URL.Path == "/debug/pprof/profile" {
			d += 30 * time.Second // its default
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		framed.ServeHTTP(w, r)
	})
	return providers.Serve(srv, l)
}

// export publishes the listeners' counts and the requests shed as metrics.
func (ls *listeners) export(ob *observability) {
	each := func(fn func(name string, st limits.Stats) []observe.Sample) func() []observe.Sample {
		return func() []observe.Sample {
			ls.mu.Lock()
			all := append([]*limits.Listener(nil), ls.all...)
			ls.mu.Unlock()
			var out []observe.Sample
			for _, l := range all {
				out = append(out, fn(l.Config().Name, l.Stats())...)
			}
			return out
		}
	}
	ob.ExportGauge(providers.Metric{Name: "connections_open", Labels: []string{"listener"},
		Help: "Client connections held, by listener (api, admin)."},
		each(func(n string, st limits.Stats) []observe.Sample {
			return []observe.Sample{{Labels: []string{n}, Value: uint64(st.Open)}}
		}))
	ob.ExportCounter(providers.Metric{Name: "connections_refused", Labels: []string{"listener", "reason"},
		Help: "Connections closed on arrival, by listener and reason: limit (server.max_connections and the probes' share were held, none idle) or per_ip (the client held server.max_connections_per_ip)."},
		each(func(n string, st limits.Stats) []observe.Sample {
			return []observe.Sample{{Labels: []string{n, "limit"}, Value: st.RefusedTotal}, {Labels: []string{n, "per_ip"}, Value: st.RefusedPerIP}}
		}))
	ob.ExportCounter(providers.Metric{Name: "connections_closed_idle", Labels: []string{"listener"},
		Help: "Idle keep-alive connections closed to make room for a new one, by listener."},
		each(func(n string, st limits.Stats) []observe.Sample {
			return []observe.Sample{{Labels: []string{n}, Value: st.ClosedIdle}}
		}))
	ob.ExportCounter(providers.Metric{Name: "connection_accept_errors", Labels: []string{"listener"},
		Help: "Failed accepts (e.g. too many open files), by listener."},
		each(func(n string, st limits.Stats) []observe.Sample {
			return []observe.Sample{{Labels: []string{n}, Value: st.AcceptErrors}}
		}))
	ob.ExportCounter(providers.Metric{Name: "http_requests_shed", Labels: []string{"reason"},
		Help: "Requests answered 503 under load, by reason: max_inflight (server.max_inflight were being served), max_connections (a non-probe request on a connection of the probes' share)."},
		func() []observe.Sample {
			ls.mu.Lock()
			shed := ls.shed
			ls.mu.Unlock()
			var inflight, conns uint64
			if shed != nil {
				inflight, conns = shed()
			}
			return []observe.Sample{{Labels: []string{"max_inflight"}, Value: inflight}, {Labels: []string{"max_connections"}, Value: conns}}
		})
}

// exportAuth publishes the failed-authentication throttle's counts.
func exportAuth(ob *observability, t *auth.Throttle) {
	if t == nil {
		return
	}
	ob.ExportCounter(providers.Metric{Name: "auth_failures", Help: "Requests refused 401 for a missing or invalid token (and invalid tokens sent to /health)."},
		func() []observe.Sample { _, failed := t.Stats(); return []observe.Sample{{Value: failed}} })
	ob.ExportCounter(providers.Metric{Name: "auth_throttled", Help: "Requests refused 429 (or shown no /health details) because their client failed authentication auth.max_failures times in a row."},
		func() []observe.Sample { refused, _ := t.Stats(); return []observe.Sample{{Value: refused}} })
}
