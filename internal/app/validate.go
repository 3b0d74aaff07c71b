package app

import (
	"errors"
	"os"
	"strings"

	"github.com/navius-dev/navius/internal/auth"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/providers"
)

// Validated is a configuration that passed every check serve makes before
// it opens anything. Serve runs only on a Validated, which only Validate
// makes, and navius config check calls Validate too: the two cannot disagree
// about a configuration.
type Validated struct {
	opts   Options
	Config *config.Config
	// Auth is the authenticator the tokens make; nil when auth is off.
	Auth *auth.Authenticator
	// tls serves the listeners' certificate; nil when TLS is off.
	tls *listenerTLS
}

// A check is one of the configuration checks serve makes before it opens
// anything; it reports every problem it finds.
type check struct {
	name string
	run  func(opts Options, v *Validated) []error
}

// checks run in order on the loaded configuration; each sees the values
// that loaded, so that one run reports every problem. The providers' own
// checks (each registered with its provider) run in database, cache,
// observability and logging, for the providers the configuration uses.
var checks = []check{
	{"listen", checkListen},
	{"tls", checkTLS},
	{"auth", checkAuth},
	{"database", checkDatabase},
	{"cache", checkCache},
	{"health", checkHealth},
	{"observability", checkObservability},
	{"logging", checkLogging},
	{"features", checkFeatures},
}

// CheckNames names the checks Validate runs after loading the configuration
// (tests make sure each has a case that config check and serve both refuse).
func CheckNames() []string {
	names := []string{"config"}
	for _, c := range checks {
		names = append(names, c.name)
	}
	return names
}

// Validate loads the configuration and runs every check serve makes before
// it opens a backend, a log sink or a listener. The error lists every
// problem, one line each; all are configuration errors (exit code 2).
func Validate(opts Options) (*Validated, error) {
	cfg, err := LoadConfig(opts)
	var problems config.Errors
	var loadErrs config.Errors
	if errors.As(err, &loadErrs) {
		problems = append(problems, loadErrs...)
	} else if err != nil {
		return nil, err
	}
	v := &Validated{opts: opts, Config: cfg}
	for _, c := range checks {
		for _, err := range c.run(opts, v) {
			problems = append(problems, asConfigError(err))
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return v, nil
}

func asConfigError(err error) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return err
	}
	return &config.Error{Msg: err.Error()}
}

func checkListen(_ Options, v *Validated) []error {
	if v.Config.Settings.String("listen") == "" {
		return []error{&config.Error{Msg: "listen is empty (" + v.Config.Source("listen") + "): give host:port, e.g. 127.0.0.1:8080, or :8080 for every interface"}}
	}
	return nil // its form is the option type's check, made while loading
}

func checkAuth(_ Options, v *Validated) []error {
	s := v.Config.Settings
	a, err := auth.FromSettings(s)
	if err != nil {
		return []error{err}
	}
	if s.String("auth.client_cert_scopes") != "" && s.String("server.tls.client_auth") == "none" {
		return []error{configErr("auth.client_cert_scopes maps client certificates to scopes, but server.tls.client_auth is none: set it to request or require, with server.tls.client_ca_file")}
	}
	v.Auth = a
	return nil
}

func checkDatabase(opts Options, v *Validated) []error {
	s := v.Config.Settings
	if s.String("database.url") == "" && s.String("database.provider") == "" {
		return []error{noDatabase(opts)}
	}
	cfg := databaseConfig(s)
	return checkStore(opts, "database", cfg.TLS, func() error {
		_, err := providers.CheckDatabase(cfg)
		return err
	})
}

func checkCache(opts Options, v *Validated) []error {
	s := v.Config.Settings
	if cacheOff(s) {
		return nil
	}
	cfg := cacheConfig(s)
	return checkStore(opts, "cache", cfg.TLS, func() error {
		_, err := providers.CheckCache(cfg)
		return err
	})
}

// checkStore reads a service's TLS files, then runs its provider's check
// (which would mostly repeat a problem with the files).
func checkStore(opts Options, service string, t providers.TLSConfig, providerCheck func() error) []error {
	if _, err := t.Config(service, ""); err != nil {
		return []error{err}
	}
	if err := providerCheck(); err != nil {
		return []error{explain(opts, err)}
	}
	return nil
}

// noDatabase asks for database.url in a build without a default database
// (neither bolt nor memory), naming the schemes it can open.
func noDatabase(opts Options) error {
	var schemes []string
	for _, name := range providers.Databases.Names() {
		for _, sc := range providers.Databases.Schemes(name) {
			schemes = append(schemes, sc+"://")
		}
	}
	if len(schemes) == 0 {
		return configErr("database.url is not set, and this build has no database provider: %s", opts.rebuild("memory"))
	}
	return configErr("database.url is not set, and this build has no default database (bolt or memory): set database.url (NAVIUS_DATABASE_URL or --database-url) to a URL of one of its schemes: %s", strings.Join(schemes, ", "))
}

// checkHealth: the directory the disk-space indicator watches exists.
func checkHealth(_ Options, v *Validated) []error {
	p := v.Config.Settings.String("health.disk_path")
	if p == "" {
		return nil
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return []error{configErr("health.disk_path %s (%s): %v: give an existing directory, or unset it to watch the database's", p, v.Config.Source("health.disk_path"), unwrapPath(err))}
	case !st.IsDir():
		return []error{configErr("health.disk_path %s (%s) is not a directory: give the directory whose file system to watch", p, v.Config.Source("health.disk_path"))}
	}
	return nil
}

// unwrapPath drops the path an os error repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkObservability runs the checks of the observability providers, each
// of which reads its own settings to tell whether it is on.
func checkObservability(_ Options, v *Validated) []error {
	return providers.CheckObservers(v.Config.Settings)
}

// checkLogging runs the checks of the log sinks the settings turn on.
func checkLogging(_ Options, v *Validated) []error {
	return providers.CheckLogSinks(v.Config.Settings)
}

// checkFeatures runs the settings checks the compiled-in features declare
// apart from their providers (providers.DeclareCheck).
func checkFeatures(_ Options, v *Validated) []error {
	return providers.CheckSettings(v.Config.Settings)
}
