package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/logging"
	"github.com/navius-dev/navius/providers"
)

// openLogging builds the logging service: the console, plus every
// compiled-in log sink that the configuration turns on (e.g. Splunk when
// splunk.endpoint is set). Several sinks can be active at once.
func openLogging(ctx context.Context, opts Options, s providers.Settings) (*logging.Service, error) {
	svc, err := logging.NewService(logging.Options{Out: opts.Log, Level: s.String("log.level"), Format: s.String("log.format")})
	if err != nil {
		return nil, &config.Error{Msg: err.Error()}
	}
	for _, p := range providers.LogSinkProviders() {
		if !p.Enabled(s) {
			continue
		}
		var sink providers.LogSink
		if p.Check != nil {
			err = p.Check(s)
		}
		if err == nil {
			sink, err = p.Open(ctx, providers.LogSinkConfig{Settings: s, Console: svc.ConsoleFunc()})
		}
		if err != nil {
			_ = svc.Close(ctx)
			if errors.Is(err, providers.ErrInvalid) {
				return nil, &config.Error{Msg: err.Error()}
			}
			return nil, fmt.Errorf("log sink %s: %w", p.Name, err)
		}
		level := providers.LevelTrace
		if p.Level != nil {
			level = p.Level(s)
		}
		svc.AddSink(p.Name, sink, level)
	}
	return svc, nil
}

// closeLogging writes the queued access lines, then flushes and closes the
// sinks (each within its own deadline, e.g. splunk.shutdown_timeout);
// problems go to the console.
func closeLogging(svc *logging.Service) {
	sinks := svc.Sinks()[1:] // after the console
	if err := svc.Close(context.Background()); err != nil {
		svc.Logger().WithError(err).Warn("closing the log sinks")
		return
	}
	if len(sinks) > 0 {
		svc.Logger().WithField("sinks", sinks).Debug("log sinks flushed")
	}
}
