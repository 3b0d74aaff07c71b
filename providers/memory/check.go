package memory

import "github.com/navius-dev/navius/providers"

// CheckDatabase is the database provider's check: a memory URL names
// nothing after its scheme.
func CheckDatabase(cfg providers.DatabaseConfig) error {
	if err := checkURL(cfg.URL); err != nil {
		return providers.Invalid("database: %v", err)
	}
	return nil
}

// CheckCache is the cache provider's check: the URL, as for the database.
func CheckCache(cfg providers.CacheConfig) error {
	if err := checkURL(cfg.URL); err != nil {
		return providers.Invalid("cache: %v", err)
	}
	return nil
}
