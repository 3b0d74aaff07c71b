package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/internal/server"
	"github.com/navius-dev/navius/providers"
)

// observability is the observability service as the app wires it: opened
// right after the logger, its decorators around the database and cache, its
// hooks in the health service and the logger, its middleware around the
// HTTP handler, and shut down last (after in-flight requests, so their spans
// are sent).
type observability struct {
	*observe.Service
	log *logrus.Logger
	// routes are the providers' endpoints on the public listener.
	routes map[string]http.Handler
	once   sync.Once
}

// startObservability opens every compiled-in observability provider that the
// config switches on. A provider's rejection of its options is a config
// error.
func startObservability(ctx context.Context, s providers.Settings, log *logrus.Logger, authn *auth.Authenticator, tlsConfig *tls.Config,
	serve func(net.Listener, http.Handler) func(context.Context) error) (*observability, error) {
	info := buildinfo.Read()
	svc, err := observe.Open(ctx, providers.ObservabilityConfig{
		TLS:         tlsConfig,
		Serve:       serve,
		Guard:       func(h http.Handler) http.Handler { return server.Require(authn, auth.Admin, h.ServeHTTP) },
		ServiceName: "navius",
		Version:     info.Version,
		Settings:    s,
		Log:         log,
	})
	if err != nil {
		if errors.Is(err, providers.ErrInvalid) {
			return nil, &config.Error{Msg: err.Error()}
		}
		return nil, err
	}
	o := &observability{Service: svc, log: log, routes: svc.Handlers()}
	if err := checkRoutes(o.routes); err != nil {
		_ = svc.Shutdown(ctx)
		return nil, err
	}
	svc.BuildInfo(info.Version, info.GoVersion, info.Revision, buildinfo.Compiled())
	return o, nil
}

// checkRoutes keeps the providers' public endpoints (Prometheus's /metrics)
// off the server's own; a provider's check refuses such a path already, so
// this guards against a provider that does not.
func checkRoutes(h map[string]http.Handler) error {
	for pattern := range h {
		_, path, found := strings.Cut(pattern, " ")
		if !found {
			path = pattern
		}
		if providers.ReservedPath(path) {
			return &config.Error{Msg: fmt.Sprintf("observability endpoint %s would shadow the server's own; pick another path (e.g. prometheus.path)", path)}
		}
	}
	return nil
}

// wire connects the health service (indicator status metrics, the
// providers' own indicators) and the cache size gauges' refresh, and names
// the active providers in /info.
func (o *observability) wire(hs *health.Service, active map[string]string) {
	if names := o.Names(); len(names) > 0 {
		active["observability"] = strings.Join(names, ",")
	}
	hs.Add(o.HealthIndicators()...)
	if fn := o.HealthObserver(); fn != nil {
		hs.Observe(fn)
		// A scrape or push reads the health status as of now (the report
		// is reused for health.cache_ttl).
		o.OnCollect(func(ctx context.Context) { hs.Check(ctx) })
	}
}

// shutdown flushes the providers (spans and metrics still buffered) in the
// shutdown's budget, once.
func (o *observability) shutdown(down *shutdown) {
	o.once.Do(func() {
		ctx, cancel := down.flushContext()
		defer cancel()
		if err := o.Shutdown(ctx); err != nil {
			o.log.WithError(err).Warn("observability: flushing on shutdown")
		}
	})
}
