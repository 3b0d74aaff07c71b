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

// flushLogging writes the queued access lines and has the sinks deliver
// what they hold, within the shutdown's budget (all but its last moment);
// what they could not deliver is said here, before "stopped".
func flushLogging(svc *logging.Service, down *shutdown) {
	ctx, cancel := down.flushContext()
	defer cancel()
	if err := svc.Flush(ctx); err != nil {
		svc.Logger().WithError(err).WithField("sinks", svc.SinkStats()).Warn("log sinks: entries undelivered at shutdown (within server.shutdown_timeout, or a sink's own bound)")
	}
}

// closeLogging closes the sinks in what is left of the shutdown's budget
// (their last chance to deliver "stopped"), quietly: flushLogging said
// already what they lost, and "stopped" stays the last line.
func closeLogging(svc *logging.Service, down *shutdown) {
	ctx, cancel := down.closeContext()
	defer cancel()
	_ = svc.CloseQuietly(ctx)
}
