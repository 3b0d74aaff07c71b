package postgres

import "github.com/navius-dev/navius/providers"

// CheckDatabase is the provider's check: the URL, sslmode and the TLS
// files, the table name and the postgres.* options, read as OpenDatabase
// reads them, without connecting.
func CheckDatabase(cfg providers.DatabaseConfig) error {
	st, err := readSettings(cfg)
	if err != nil {
		return err
	}
	_, err = poolConfig(cfg, &st)
	return err
}
