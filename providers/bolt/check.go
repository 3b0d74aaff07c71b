package bolt

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/navius-dev/navius/providers"
)

// CheckDatabase is the provider's check: the URL names a file, and the
// bolt.* options mean what they say. Options absent from the settings (a
// config built by hand) take their defaults.
func CheckDatabase(cfg providers.DatabaseConfig) error {
	if _, err := PathFromURL(cfg.URL); err != nil {
		return providers.Invalid("database: %v", err)
	}
	s := cfg.Settings
	if s.String("bolt.lock_timeout") != "" {
		if err := Check(s); err != nil {
			return err
		}
	}
	if v := s.String("bolt.max_batch_size"); v != "" && s.Int("bolt.max_batch_size") < 1 {
		return providers.Invalid("bolt.max_batch_size is %s: use 1 or more writes per transaction (bolt.batch: false commits each write alone)", v)
	}
	if v := s.String("bolt.max_batch_delay"); v != "" && s.Duration("bolt.max_batch_delay") <= 0 {
		return providers.Invalid("bolt.max_batch_delay is %s, which bbolt reads as its own default (10ms): use a positive duration, or bolt.batch: false to commit each write alone", v)
	}
	return nil
}

// openError names the file once: bbolt's error already says "open PATH".
func openError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return fmt.Errorf("database: %w", err)
	}
	return fmt.Errorf("database: open %s: %w", path, err)
}
