package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/providers"
)

// databaseConfig is the database provider's config, the same for its check
// (config check) and its opening (serve).
func databaseConfig(s providers.Settings) providers.DatabaseConfig {
	return providers.DatabaseConfig{
		Provider:       s.String("database.provider"),
		URL:            s.String("database.url"),
		MaxConnections: s.Int("database.max_connections"),
		Timeout:        s.Duration("database.timeout"),
		TLS:            providers.TLSFromSettings(s, "database"),
		Settings:       s,
	}
}

// cacheConfig is the cache provider's config, as databaseConfig.
func cacheConfig(s providers.Settings) providers.CacheConfig {
	return providers.CacheConfig{
		Provider:   s.String("cache.provider"),
		URL:        s.String("cache.url"),
		Capacity:   s.Bytes("cache.capacity"),
		DefaultTTL: s.Duration("cache.default_ttl"),
		Timeout:    s.Duration("cache.timeout"),
		TLS:        providers.TLSFromSettings(s, "cache"),
		Settings:   s,
	}
}

func openDatabase(ctx context.Context, opts Options, s providers.Settings) (providers.Database, string, error) {
	db, name, err := providers.OpenDatabase(ctx, databaseConfig(s))
	return db, name, explain(opts, err)
}

// openCache opens the configured cache; cache.url "none" means no cache.
func openCache(ctx context.Context, opts Options, s providers.Settings) (providers.Cache, string, error) {
	if cacheOff(s) {
		return nil, "", nil
	}
	c, name, err := providers.OpenCache(ctx, cacheConfig(s))
	return c, name, explain(opts, err)
}

// cacheOff: cache.url "none" (or no URL and no provider) means no cache.
func cacheOff(s providers.Settings) bool {
	return s.String("cache.url") == "none" || s.String("cache.url") == "" && s.String("cache.provider") == ""
}

// explain turns a missing provider into a config error that says which
// feature would bring it, and a provider's rejection of its URL or options
// into a config error.
func explain(opts Options, err error) error {
	var np *providers.NoProviderError
	if !errors.As(err, &np) {
		if errors.Is(err, providers.ErrInvalid) {
			return &config.Error{Msg: err.Error()}
		}
		return err
	}
	hint := "; no navius feature provides it"
	f := opts.Manifest.Provider(np.Service, np.Value)
	if np.By == "scheme" {
		f = opts.Manifest.SchemeFeature(np.Service, np.Value)
	}
	if f != "" {
		hint = "; " + opts.rebuild(f)
	}
	return &config.Error{Msg: fmt.Sprintf("%v%s", np, hint)}
}
