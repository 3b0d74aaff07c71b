package builder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
	"github.com/navius-dev/navius/providers"
)

// builderCommand is `navius builder serve`: the builder as a web page.
func builderCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:  "builder",
		Usage: "the builder as a web page: navius builder serve",
		Subcommands: []*ucli.Command{{
			Name:  "serve",
			Usage: "serve a page (and a JSON API) to pick features, see their cost and download a verified build",
			Description: "The page and its API go through the same code as navius build and navius package: the\n" +
				"resolver, the verification of modules, the build, the archive, the image and the SBOM. Builds\n" +
				"run in a queue (--concurrency at once); results are cached by content (navius version, features,\n" +
				"modules with versions, platform, artefact) under --cache, at most --cache-size bytes, least\n" +
				"recently used first out. Third-party modules come only from the --catalog file, each verified\n" +
				"by navius's conformance suites before its first build. It builds from a navius source tree\n" +
				"(--source, else the nearest upward), or without one navius at this binary's version (or --navius\n" +
				"VERSION) fetched through the Go module proxy. NAVIUS_AUTH_TOKENS or NAVIUS_AUTH_TOKEN_HASHES\n" +
				"(scope[+scope]:token, as serve takes them) turn on bearer tokens: starting builds needs the\n" +
				"build scope, /metrics the metrics scope. GET /download and GET /api/catalog script it.",
			Flags: []ucli.Flag{
				&ucli.StringFlag{Name: "listen", Value: "127.0.0.1:8070", Usage: "listen on `ADDR` (host:port; port 0 picks a free one)"},
				&ucli.StringFlag{Name: "catalog", Usage: "the catalog `FILE` of third-party provider modules one may build in (JSON: {\"modules\":[{\"module\",\"version\",\"dir\",\"description\"}]})"},
				&ucli.StringFlag{Name: "cache", Usage: "keep built results in `DIR` (default: the user cache directory's navius-builder)"},
				&ucli.Int64Flag{Name: "cache-size", Value: 2 << 30, Usage: "keep at most `BYTES` of results; the least recently used go first"},
				&ucli.IntFlag{Name: "concurrency", Value: 1, Usage: "run at most `N` builds at once (each go build uses every core)"},
				&ucli.IntFlag{Name: "queue", Value: 32, Usage: "let at most `N` builds wait"},
				&ucli.IntFlag{Name: "per-client", Value: 2, Usage: "let one client (address, or token) have at most `N` builds queued or running"},
				sourceFlag, naviusFlag,
			},
			Action: func(c *ucli.Context) error {
				if c.Args().Present() {
					return cli.Usagef("builder serve takes no arguments (got %q)", c.Args().First())
				}
				return runServe(c, env)
			},
		}},
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return cli.Usagef("builder: unknown command %q; navius builder serve serves the builder's page", c.Args().First())
			}
			return cli.Usagef("builder needs a command: navius builder serve")
		},
	}
}

// serveOptions are builder serve's settings.
type serveOptions struct {
	catalog     string
	cacheDir    string
	cacheSize   int64
	concurrency int
	queue       int
	perClient   int
}

func runServe(c *ucli.Context, env *cli.Env) error {
	opts := serveOptions{
		catalog: c.String("catalog"), cacheDir: c.String("cache"), cacheSize: c.Int64("cache-size"),
		concurrency: c.Int("concurrency"), queue: c.Int("queue"), perClient: c.Int("per-client"),
	}
	for name, v := range map[string]int64{"cache-size": opts.cacheSize, "concurrency": int64(opts.concurrency), "queue": int64(opts.queue), "per-client": int64(opts.perClient)} {
		if v < 1 {
			return cli.Usagef("--%s %d: give a positive number", name, v)
		}
	}
	if opts.cacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return cli.Usagef("no user cache directory (%v): pass --cache DIR", err)
		}
		opts.cacheDir = filepath.Join(dir, "navius-builder")
	}
	authn, err := auth.FromSettings(providers.Settings{
		"auth.tokens":       envValue(env.Environ, "NAVIUS_AUTH_TOKENS"),
		"auth.token_hashes": envValue(env.Environ, "NAVIUS_AUTH_TOKEN_HASHES"),
	})
	if err != nil {
		return cli.Usagef("NAVIUS_AUTH_TOKENS or NAVIUS_AUTH_TOKEN_HASHES: %v", err)
	}
	log := logrus.New()
	log.SetOutput(env.Stderr)
	log.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})

	// Without a source tree it builds navius fetched through the module
	// proxy (openSource). When that fails too, the page still shows the
	// catalog (from this binary's features.json) and says why it cannot
	// build. A --navius that cannot be fetched is an error.
	var t *tree
	noSource := ""
	if t, err = openSource(c.Context, env.Stderr, c); err != nil {
		if c.IsSet("navius") {
			return err
		}
		noSource = "this builder can show the catalog but not build: " + err.Error()
		t = nil
	} else if err := requireGo(); err != nil {
		return err
	} else if opts.catalog != "" {
		remove, err := t.copyFetched(env.Stderr)
		if err != nil {
			return err
		}
		defer remove()
	}
	s, err := newWebServer(c.Context, env, t, noSource, opts, authn, log)
	if err != nil {
		return err
	}
	defer s.close()

	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return cli.Usagef("--listen %s: %v", c.String("listen"), err)
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	where := "source " + s.src()
	if t != nil && t.fetched != nil {
		where = "navius source: " + t.fetched.Label()
	}
	if t == nil {
		where = "no source tree: catalog only"
	}
	fmt.Fprintf(env.Stderr, "navius builder: serving http://%s/ (%s; cache %s, at most %s)\n", ln.Addr(), where, s.cache.dir, human(opts.cacheSize))
	if noSource != "" {
		log.Warn(noSource)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.queue.stop() // running builds are cancelled and clean up
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// envValue is the last value of name in environ.
func envValue(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if val, ok := strings.CutPrefix(kv, name+"="); ok {
			v = val
		}
	}
	return v
}

// webServer is builder serve's state: the tree it builds from (nil
// without one), the catalog, the queue and the result cache.
type webServer struct {
	env      *cli.Env
	t        *tree
	noSource string
	// nav is the manifest with the catalog modules' features added: the
	// one resolver for the page, the API and the builds.
	nav      *manifest.Manifest
	catalog  []*catalogModule
	profiles []Profile
	versions map[string]string // go.mod's module versions
	auth     *auth.Authenticator
	cache    *resultCache
	queue    *buildQueue
	metrics  *webMetrics
	log      *logrus.Logger
}

func newWebServer(ctx context.Context, env *cli.Env, t *tree, noSource string, opts serveOptions, authn *auth.Authenticator, log *logrus.Logger) (*webServer, error) {
	s := &webServer{env: env, t: t, noSource: noSource, nav: env.Manifest, auth: authn, log: log, metrics: &webMetrics{}}
	if t != nil {
		s.nav = t.manifest
		s.versions = goModVersions(t.dir)
	}
	if opts.catalog != "" {
		mods, merged, err := loadCatalog(ctx, s.nav, opts.catalog)
		if err != nil {
			return nil, cli.Usagef("--catalog %s: %v", opts.catalog, oneLine(err))
		}
		s.catalog, s.nav = mods, merged
	}
	profiles := t
	if profiles == nil {
		// Catalog only: the profiles shipped in this binary can still be
		// chosen, and copied as commands.
		profiles = shippedTree(env.Manifest)
	}
	s.loadProfiles(profiles)
	cache, err := openCache(opts.cacheDir, opts.cacheSize, s.metrics)
	if err != nil {
		return nil, cli.Usagef("--cache %s: %v", opts.cacheDir, err)
	}
	s.cache = cache
	// Every temporary directory of a build (the builder's, go build's, a
	// module workspace's) goes under the cache's tmp/, which is emptied at
	// start: nothing is written outside the cache but Go's own caches.
	if err := os.Setenv("TMPDIR", cache.tmpDir()); err != nil {
		return nil, err
	}
	s.queue = newBuildQueue(opts.concurrency, opts.queue, opts.perClient, s.runJob, s.metrics, log)
	s.queue.idle = cache.sweepTmp
	return s, nil
}

func (s *webServer) close() { s.queue.stop() }

// loadProfiles offers pt's profiles as one-click starting points. One that
// builds in --with modules is offered when each is in the catalog (at the
// catalog's version, which the page builds); one that is not, or whose
// features do not resolve, is left out and the log says why, once.
func (s *webServer) loadProfiles(pt *tree) {
	for _, name := range pt.profileNames() {
		p, err := pt.loadProfile(name)
		if err == nil {
			err = s.offerable(&p)
		}
		if err != nil {
			s.log.WithField("profile", name).WithField("reason", oneLine(err).Error()).Warn("profile not offered on the page")
			continue
		}
		s.profiles = append(s.profiles, p)
	}
}

// offerable checks that the page can build profile p, and names its
// modules as the catalog has them.
func (s *webServer) offerable(p *Profile) error {
	for i, arg := range p.With {
		w, err := thirdparty.ParseWith(arg)
		if err != nil {
			return err
		}
		cm := s.catalogModule(w.Module)
		if cm == nil {
			return fmt.Errorf("it builds in module %s, which is not in this builder's catalog (%s): add it to the --catalog file", w.Module, s.catalogNames())
		}
		p.With[i] = cm.mod.Path + "@" + cm.entry.Version
		if w.Version != "" && w.Version != cm.entry.Version {
			s.log.WithField("profile", p.Name).WithField("module", w.Module).WithField("version", cm.entry.Version).
				Info("profile offered with the catalog's version of a module (the profile names " + w.Version + ")")
		}
	}
	if _, err := s.resolve("none," + strings.Join(p.Features, ",")); err != nil {
		return fmt.Errorf("its features do not resolve here: %v", err)
	}
	return nil
}

// src is the source tree's directory, "" without one.
func (s *webServer) src() string {
	if s.t == nil {
		return ""
	}
	return s.t.dir
}

// goModVersions are the versions go.mod in dir requires, by module path.
func goModVersions(dir string) map[string]string {
	versions := map[string]string{}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return versions
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && strings.Contains(f[0], ".") && strings.HasPrefix(f[1], "v") {
			versions[f[0]] = f[1]
		}
	}
	return versions
}
