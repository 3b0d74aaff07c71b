package app

import (
	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/watch"
	"github.com/navius-dev/navius/providers"
)

// newWatch makes the hub of watch streams the watch.* options describe;
// nil when watch.max_watchers is 0 (watching off). read reads an entry back
// from the database.
func newWatch(s providers.Settings, log *logrus.Logger, read func(coll, key string) (providers.Entry, error)) *watch.Hub {
	n := s.Int("watch.max_watchers")
	if n <= 0 {
		return nil
	}
	return watch.New(watch.Options{
		Heartbeat:     s.Duration("watch.heartbeat"),
		MaxWatchers:   n,
		Buffer:        s.Int("watch.buffer"),
		History:       s.Int("watch.history"),
		MaxValueBytes: int(s.Bytes("watch.max_value_bytes")),
		Log:           log,
	}, read)
}
