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
// problems go to the console. After a clean shutdown (stopped) the sinks
// get "stopped" before they flush, and the console gets it last of all.
func closeLogging(svc *logging.Service, stopped bool) {
	sinks := svc.Sinks()[1:] // after the console
	last := ""
	if stopped {
		last = "stopped"
	}
	console := svc.Console()
	if err := svc.CloseWith(context.Background(), last); err != nil {
		console.WithError(err).Warn("closing the log sinks")
	} else if len(sinks) > 0 {
		console.WithField("sinks", sinks).Debug("log sinks flushed")
	}
	if stopped {
		console.Info("stopped")
	}
}
