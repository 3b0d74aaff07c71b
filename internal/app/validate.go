package app

import (
	"errors"

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
}

// A check is one of the configuration checks serve makes before it opens
// anything; it reports every problem it finds.
type check struct {
	name string
	run  func(opts Options, v *Validated) []error
}

// checks run in order on the loaded configuration; each sees the values
// that loaded, so that one run reports every problem.
var checks = []check{
	{"listen", checkListen},
	{"auth", checkAuth},
	{"database", checkDatabase},
	{"cache", checkCache},
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
	a, err := auth.FromSettings(v.Config.Settings)
	if err != nil {
		return []error{err}
	}
	v.Auth = a
	return nil
}

func checkDatabase(opts Options, v *Validated) []error {
	s := v.Config.Settings
	return resolveStore(opts, providers.Databases, "database", s.String("database.provider"), s.String("database.url"), s)
}

func checkCache(opts Options, v *Validated) []error {
	s := v.Config.Settings
	if cacheOff(s) {
		return nil
	}
	return resolveStore(opts, providers.Caches, "cache", s.String("cache.provider"), s.String("cache.url"), s)
}

// resolver is what resolveStore needs of a provider registry.
type resolver interface {
	Resolve(name, rawURL string) (string, error)
}

// resolveStore finds the provider a service's URL or name asks for, and
// checks its TLS files, without opening it.
func resolveStore(opts Options, r resolver, service, name, url string, s providers.Settings) []error {
	var errs []error
	if _, err := r.Resolve(name, url); err != nil {
		errs = append(errs, explain(opts, err))
	}
	if _, err := providers.TLSFromSettings(s, service).Config(service, ""); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkFeatures runs the settings checks the compiled-in features declare
// (the part of opening their providers that depends on configuration).
func checkFeatures(_ Options, v *Validated) []error {
	return providers.CheckSettings(v.Config.Settings)
}
