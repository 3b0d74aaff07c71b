// Package app wires the configured providers into the services and the HTTP
// server, and runs it until a signal asks it to stop.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/internal/limits"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/openapi"
	"github.com/navius-dev/navius/internal/server"
	"github.com/navius-dev/navius/internal/store"
	"github.com/navius-dev/navius/providers"
)

// Options are the inputs of Serve.
type Options struct {
	Manifest   *manifest.Manifest
	ConfigFile string
	Flags      []config.Flag
	Environ    []string
	// Compiled are the features compiled into this binary; nil means
	// buildinfo.Compiled(). Rebuild hints keep them.
	Compiled []string
	// Log receives the log output (os.Stderr in the binary).
	Log io.Writer
	// Listening, when set, is called with the bound address once the server
	// accepts connections and is ready.
	Listening func(addr string)
}

func (o Options) compiled() []string {
	if o.Compiled != nil {
		return o.Compiled
	}
	return buildinfo.Compiled()
}

// rebuild is the hint for a feature this binary lacks: rebuild with its own
// features plus that one, never fewer.
func (o Options) rebuild(feature string) string {
	return "rebuild with " + buildinfo.Rebuild(o.compiled(), feature)
}

// notCompiled maps the config section of every feature that is described
// in the manifest but not compiled into this binary to that feature.
func (o Options) notCompiled() map[string]string {
	compiled := o.compiled()
	out := map[string]string{}
	for _, f := range o.Manifest.Features {
		if !slices.Contains(compiled, f.Name) {
			out[f.Name] = f.Name
		}
	}
	return out
}

// LoadConfig resolves the configuration for this binary.
func LoadConfig(opts Options) (*config.Config, error) {
	return config.Load(config.Sources{
		File:        opts.ConfigFile,
		Environ:     opts.Environ,
		Flags:       opts.Flags,
		NotCompiled: opts.notCompiled(),
		Compiled:    opts.compiled(),
	})
}

// Serve runs the server until ctx is cancelled, then shuts down gracefully:
// readiness off, in-flight requests finish (up to server.shutdown_timeout),
// the cache and database close.
//
// Every configuration check comes first, in Validate (which navius config
// check runs too); what can fail after it is opening things.
func Serve(ctx context.Context, opts Options) error {
	v, err := Validate(opts)
	if err != nil {
		return err
	}
	return v.serve(ctx)
}

func (v *Validated) serve(ctx context.Context) error {
	opts, cfg, authn := v.opts, v.Config, v.Auth
	s := cfg.Settings
	logs, err := openLogging(ctx, opts, s)
	if err != nil {
		return err
	}
	// One budget bounds the whole shutdown (server.shutdown_timeout): it
	// starts when the signal comes, or now when the start fails.
	down := newShutdown(s.Duration("server.shutdown_timeout"))
	stopped := false
	defer func() {
		if stopped { // after everything else, and delivered to the sinks
			logs.Logger().Info("stopped")
		}
		closeLogging(logs, down)
	}()
	log := logs.Logger()
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	var tlsConfig *tls.Config
	if v.tls != nil {
		v.tls.log = log
		tlsConfig = v.tls.Config()
		watchCtx, stopWatching := context.WithCancel(ctx)
		defer stopWatching()
		go v.tls.watch(watchCtx, s.Duration("server.tls.reload_interval"))
	}
	var access *logging.AccessLog
	if s.Bool("log.access") {
		access = logs.AccessLog()
	}
	ls := &listeners{s: s, log: log, access: access, tls: tlsConfig}
	ob, err := startObservability(ctx, s, log, authn, tlsConfig, ls.serveAdmin)
	if err != nil {
		return err
	}
	defer ob.shutdown(down)
	ob.ExportLogCounts(func() map[string]uint64 { return logs.Stats().ByLevel })
	ob.ExportLogSinkStats(logs.SinkStats)
	if access != nil {
		ob.ExportAccessLogDrops(access.Dropped)
	}

	// What /openapi.json describes: the endpoints of this binary, where
	// this configuration serves them.
	served := []string{} // not nil: none served means none described
	for pattern := range ob.routes {
		_, path, found := strings.Cut(pattern, " ") // "GET /metrics"
		if !found {
			path = pattern
		}
		served = append(served, path)
	}
	apiDoc, err := openapi.Build(openapi.Input{Manifest: opts.Manifest, Features: opts.compiled(), Version: buildinfo.Read().Version,
		Setting: s.String, Served: served})
	if err != nil {
		return err
	}

	db, dbName, err := openDatabase(ctx, opts, s)
	if err != nil {
		return err
	}
	cache, cacheName, err := openCache(ctx, opts, s)
	if err != nil {
		_ = db.Close()
		return err
	}
	writes := &health.Writes{} // a database that cannot write, told by its writes
	storeOpts := store.Options{Timeout: s.Duration("database.timeout"), Provider: dbName, Wrote: writes.Wrote}
	feed, shared := db.(providers.ChangeFeed) // a database other instances share
	if shared {
		storeOpts.Changes = feed
	}
	var st *store.Store
	hub := newWatch(s, log, func(coll, key string) (providers.Entry, error) { return st.Latest(context.Background(), coll, key) })
	if hub != nil {
		storeOpts.Publish = hub
		if shared {
			hub.Follow(feed)
		}
		hub.Export(ob.Service)
	}
	st = store.New(ob.Database(db, dbName), ob.Cache(cache, cacheName), storeOpts)

	sweepCtx, stopSweeping := context.WithCancel(ctx)
	sweeping := st.RunSweeper(sweepCtx, s.Duration("database.sweep_interval"), log)

	started := time.Now()
	info := buildinfo.Read()
	active := map[string]string{"database": dbName}
	hs := health.New(s.Duration("health.timeout"), s.Duration("health.cache_ttl"), info.Version)
	hs.Add(health.Database(st, dbName), writes.Indicator(),
		health.Disk(diskPath(s, db), s.Bytes("health.disk_min_free")),
		health.Environment(started))
	if cache != nil {
		active["cache"] = cacheName
		hs.Add(health.Cache(cache, cacheName))
	}
	active["logging"] = strings.Join(logs.Sinks(), ",")
	hs.Add(logs.HealthIndicators()...)
	hs.Add(health.Registry(active, buildinfo.Compiled()))
	for _, p := range []any{db, cache} {
		if hc, ok := p.(providers.HealthContributor); ok {
			hs.Add(hc.HealthIndicators()...)
		}
	}
	if v.tls != nil {
		hs.Add(certificateIndicator(v.tls))
	}
	ob.wire(hs, active)
	hs.OnTransition(func(t health.Transition) {
		if !down.begun() { // closing the database is no outage
			logTransition(log, t)
		}
	})
	// Run the first health check while the server is set up, so that the
	// first /readyz finds a report (concurrent callers share a run); then
	// keep checking, so that a backend's outage is logged when it begins.
	go func() {
		hs.Check(ctx)
		hs.Watch(ctx, s.Duration("health.check_interval"))
	}()

	srv := server.New(server.Deps{
		Auth:          authn,
		Store:         st,
		Health:        hs,
		Log:           log,
		Info:          InfoDoc(info, active, started, st.Capabilities()),
		Version:       info.Version,
		MaxBody:       s.Bytes("server.max_body_bytes"),
		MaxTTL:        s.Duration("database.max_ttl"),
		MaxPageBytes:  s.Bytes("server.max_page_bytes"),
		MaxBatchOps:   s.Int("server.max_batch_operations"),
		MaxBatchBytes: s.Bytes("server.max_batch_bytes"),
		Access:        access,
		Routes:        ob.routes,
		Instrument:    ob.Middleware,
		Watch:         hub,
		OpenAPI:       apiDoc,
		Inflight:      limits.NewInflight(s.Int("server.max_inflight")),
	})
	ls.shed = srv.Shed
	ls.export(ob)
	exportAuth(ob, authn.Throttle())
	rawLn, err := net.Listen("tcp", s.String("listen"))
	if err != nil {
		hub.Close()
		stopSweeping()
		<-sweeping
		_ = st.Close()
		return listenError(s.String("listen"), cfg.Source("listen"), err)
	}
	hsrv, ln := ls.server(rawLn, apiLimits(s, log), srv.Handler())
	if hub != nil {
		hsrv.RegisterOnShutdown(hub.Close) // streams end, so that shutdown need not wait for them
	}
	addr := listenAddr(s.String("listen"), ln.Addr())
	warnIfExposed(log, ln.Addr(), addr, authn != nil)

	serveErr := make(chan error, 1)
	if tlsConfig != nil {
		go func() { serveErr <- hsrv.ServeTLS(ln, "", "") }()
	} else {
		go func() { serveErr <- hsrv.Serve(ln) }()
	}
	srv.SetReady(true)
	log.WithFields(logrus.Fields{
		"addr": addr, "tls": tlsConfig != nil, "version": info.Version, "database": providers.Redact(s.String("database.url")),
		"cache": cacheName, "features": buildinfo.Compiled(), "startup_ms": time.Since(started).Milliseconds(),
	}).Info("navius is serving")
	if opts.Listening != nil {
		opts.Listening(ln.Addr().String())
	}

	select {
	case err = <-serveErr:
		srv.SetReady(false)
		hub.Close()
		stopSweeping()
		<-sweeping
		_ = st.Close()
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}

	srv.SetReady(false)
	down.begin()
	drain, cancelDrain := down.drainContext()
	defer cancelDrain()
	log.WithFields(logrus.Fields{"budget": down.budget.String(), "drain": time.Until(down.drainEnd()).Round(time.Millisecond).String()}).
		Info("shutting down: finishing in-flight requests")
	shutdownErr := hsrv.Shutdown(drain)
	if shutdownErr != nil {
		log.WithError(shutdownErr).Warn("in-flight requests did not finish in time; closing their connections")
		_ = hsrv.Close()
	}
	access.Close() // every request's line is written before "stopped"
	stopSweeping()
	<-sweeping
	if err := st.Close(); err != nil {
		log.WithError(err).Error("closing the database")
		return err
	}
	ob.shutdown(down) // metrics and spans pushed in what is left
	flushLogging(logs, down)
	stopped = true
	return nil
}

// diskPath is the directory the disk-space indicator watches.
func diskPath(s providers.Settings, db providers.Database) string {
	p := s.String("health.disk_path")
	if f, ok := db.(interface{ Path() string }); ok && p == "" { // file-backed, e.g. bolt
		p = filepath.Dir(f.Path())
	}
	if abs, err := filepath.Abs(p); err == nil { // "" becomes the working directory
		return abs
	}
	return p
}

// logTransition logs a backend going down (with why) or coming back (with
// how long it was down), once per change.
func logTransition(log *logrus.Logger, t health.Transition) {
	if t.Up {
		log.WithFields(logrus.Fields{"component": t.Name, "down_for": t.DownFor.Round(time.Millisecond).String()}).Info(t.Name + " is up again")
		return
	}
	log.WithFields(logrus.Fields{"component": t.Name, "error": t.Error}).Warn(t.Name + " is down")
}

func warnIfExposed(log *logrus.Logger, got net.Addr, addr string, authOn bool) {
	if ta, ok := got.(*net.TCPAddr); ok && !ta.IP.IsLoopback() && !authOn {
		log.WithField("addr", addr).Warn("authentication is off and the listener is not loopback: anyone who reaches this address can read and write data; set auth.tokens or auth.token_hashes")
	}
}

// listenAddr is the listen address as given, with the port the listener
// got: 0.0.0.0:8080 stays so (Go names a listener on it [::]:8080), and
// 127.0.0.1:0 shows its port.
func listenAddr(given string, got net.Addr) string {
	host, _, err := net.SplitHostPort(given)
	tcp, ok := got.(*net.TCPAddr)
	if err != nil || !ok {
		return got.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// listenError names the listen option, where its value came from and the
// way out; a port in use is the usual case.
func listenError(addr, source string, err error) error {
	fix := "pick another address with --listen or NAVIUS_LISTEN"
	if errors.Is(err, syscall.EADDRINUSE) {
		fix = "another process is listening there: stop it, or " + fix
	}
	return fmt.Errorf("listen %s (%s): %v; %s", addr, source, unwrapOp(err), fix)
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// InfoDoc is the /info document: what this binary is and which provider
// each service uses. It holds no secrets.
func InfoDoc(info buildinfo.Info, active map[string]string, started time.Time, caps providers.Capabilities) map[string]any {
	doc := map[string]any{
		"name":         "navius",
		"version":      info.Version,
		"go_version":   info.GoVersion,
		"vcs_revision": info.Revision,
		"build_tags":   info.Tags,
		"platform":     info.Platform,
		"features":     buildinfo.Compiled(),
		"providers":    active,
		// What the database in use can do beyond get, set, delete and
		// query: conditional writes, expiry, batches.
		"database_capabilities": append([]string{}, caps.Names()...),
		"started_at":            started.UTC().Format(time.RFC3339),
	}
	// Features from other modules (navius build --with), with their source,
	// as navius --features lists them.
	if mods := buildinfo.ModuleFeatures(); len(mods) > 0 {
		type nonStandard struct {
			Name     string   `json:"name"`
			Provides []string `json:"provides"`
			Module   string   `json:"module"`
			Version  string   `json:"version"`
			Replace  string   `json:"replace,omitempty"`
		}
		list := make([]nonStandard, len(mods))
		for i, f := range mods {
			list[i] = nonStandard{Name: f.Name, Provides: f.Provides, Module: f.Module, Version: info.Modules[f.Module], Replace: info.Replaced[f.Module]}
		}
		doc["non_standard_features"] = list
	}
	return doc
}
