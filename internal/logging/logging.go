// Package logging is navius's logging service. logrus is the core: one
// logger writes to the console (text or JSON) and fans entries out to the
// sinks that logging providers contribute (e.g. Splunk HEC), several at once.
// The service adds a log context (correlation ID, source, metadata), counts
// entries per level, and flushes the sinks on shutdown.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/providers"
)

// Field names the service gives meaning to. The correlation ID is the
// request ID, so the HTTP access log and everything logged while serving a
// request share it.
const (
	CorrelationKey = "request_id"
	SourceKey      = "source"
)

const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// Options configure the service.
type Options struct {
	// Out is the console (os.Stderr in the binary).
	Out io.Writer
	// Level is the least severe level logged: trace, debug, info, warn,
	// error or fatal. Sinks never see entries below it.
	Level string
	// Format is "text" or "json".
	Format string
	// AccessQueue bounds the access lines waiting to be written; 0 means
	// DefaultAccessQueue.
	AccessQueue int
}

// Context is the log context of the seed design: who logged (Source), for
// which request (CorrelationID), and any other key-value metadata.
type Context struct {
	CorrelationID string
	Source        string
	Metadata      map[string]string
}

// Stats are the counts of entries logged per level since the start.
type Stats struct {
	Total   uint64            `json:"total"`
	ByLevel map[string]uint64 `json:"by_level"`
}

type sink struct {
	name  string
	sink  providers.LogSink
	level providers.LogLevel
}

// Service is the logging service. Create it with NewService.
type Service struct {
	log     *logrus.Logger // console and sinks
	console *logrus.Logger // console only, for the sinks' own problems
	out     io.Writer      // the console both loggers and the access log write to
	format  string
	counts  [providers.LevelFatal + 1]atomic.Uint64
	sinks   atomic.Pointer[[]sink]
	mu      sync.Mutex // serializes AddSink, AccessLog and Close
	closed  bool
	quiet   atomic.Bool // the sinks' console reports are dropped (CloseQuietly)

	accessQueue int
	access      *AccessLog
}

// NewService builds the service with the console as its only output.
func NewService(opts Options) (*Service, error) {
	lvl, err := providers.ParseLogLevel(opts.Level)
	if opts.Level == "" {
		lvl, err = providers.LevelInfo, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log.level: %v", err)
	}
	var f logrus.Formatter
	format := opts.Format
	switch format {
	case "json":
		f = &logrus.JSONFormatter{TimestampFormat: timeFormat}
	case "text", "":
		format = "text"
		f = &logrus.TextFormatter{FullTimestamp: true, TimestampFormat: timeFormat}
	default:
		return nil, fmt.Errorf("log.format: %q is not a format (text, json)", opts.Format)
	}
	var out io.Writer = os.Stderr
	switch o := opts.Out.(type) {
	case nil:
	case *os.File: // whole writes to a file never interleave; logrus looks for a terminal in it
		out = o
	default: // the two loggers and the access log take turns
		out = &lockedWriter{w: o}
	}
	s := &Service{out: out, format: format, accessQueue: opts.AccessQueue}
	s.sinks.Store(&[]sink{})
	mk := func() *logrus.Logger {
		l := logrus.New()
		l.SetOutput(out)
		l.SetLevel(toLogrus(lvl))
		l.SetFormatter(f)
		l.AddHook(cutHook{}) // first: the others see the cut line
		l.AddHook(countHook{s})
		return l
	}
	s.log, s.console = mk(), mk()
	s.console.ExitFunc = s.exit
	s.log.ExitFunc = s.exit
	s.log.AddHook(dispatchHook{s})
	return s, nil
}

// Logger is the logrus logger everything logs through.
func (s *Service) Logger() *logrus.Logger { return s.log }

// Console is a logger that writes to the console only (no sink).
func (s *Service) Console() *logrus.Logger { return s.console }

// ConsoleFunc returns the function sinks report their own problems with: it
// writes to the console only, so a failing sink never feeds itself.
func (s *Service) ConsoleFunc() func(providers.LogLevel, string, map[string]any) {
	return func(level providers.LogLevel, msg string, fields map[string]any) {
		if !s.quiet.Load() {
			s.console.WithFields(fields).Log(toLogrus(level), msg)
		}
	}
}

// AddSink attaches a sink that receives entries at level and above.
func (s *Service) AddSink(name string, ls providers.LogSink, level providers.LogLevel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := *s.sinks.Load()
	next := append(append(make([]sink, 0, len(cur)+1), cur...), sink{name: name, sink: ls, level: level})
	s.sinks.Store(&next)
}

// Sinks names the active sinks, "console" first.
func (s *Service) Sinks() []string {
	names := []string{"console"}
	for _, k := range *s.sinks.Load() {
		names = append(names, k.name)
	}
	return names
}

// SinkStats returns the delivery counters of every sink that keeps them.
func (s *Service) SinkStats() map[string]providers.LogSinkStats {
	out := map[string]providers.LogSinkStats{}
	for _, k := range *s.sinks.Load() {
		if st, ok := k.sink.(providers.LogSinkStatser); ok {
			out[k.name] = st.Stats()
		}
	}
	return out
}

// HealthIndicators collects the indicators the sinks contribute.
func (s *Service) HealthIndicators() []providers.HealthIndicator {
	var out []providers.HealthIndicator
	for _, k := range *s.sinks.Load() {
		if hc, ok := k.sink.(providers.HealthContributor); ok {
			out = append(out, hc.HealthIndicators()...)
		}
	}
	return out
}

// Stats returns the number of entries logged per level (console and sinks
// see the same entries; the sinks' own console reports are included).
func (s *Service) Stats() Stats {
	st := Stats{ByLevel: make(map[string]uint64, len(levelOrder))}
	for i, l := range levelOrder {
		n := s.counts[i].Load()
		st.ByLevel[l.String()] = n
		st.Total += n
	}
	return st
}

// Count returns the number of entries logged at level.
func (s *Service) Count(level providers.LogLevel) uint64 {
	if int(level) >= len(s.counts) {
		return 0
	}
	return s.counts[level].Load()
}

// IsEnabled tells whether entries at level are logged.
func (s *Service) IsEnabled(level providers.LogLevel) bool {
	return s.log.IsLevelEnabled(toLogrus(level))
}

// With returns an entry carrying the log context.
func (s *Service) With(lc Context) *logrus.Entry {
	f := make(logrus.Fields, len(lc.Metadata)+2)
	for k, v := range lc.Metadata {
		f[k] = v
	}
	if lc.CorrelationID != "" {
		f[CorrelationKey] = lc.CorrelationID
	}
	if lc.Source != "" {
		f[SourceKey] = lc.Source
	}
	return s.log.WithFields(f)
}

// Log logs message at level with the log context. LevelFatal is logged
// without exiting (Logger().Fatal exits, after flushing the sinks).
func (s *Service) Log(level providers.LogLevel, lc Context, message string) {
	if s.IsEnabled(level) {
		s.With(lc).Log(toLogrus(level), message)
	}
}

// LogStructured logs data as the entry's fields; a "message" or "msg" key
// becomes the message.
func (s *Service) LogStructured(level providers.LogLevel, lc Context, data map[string]any) {
	if !s.IsEnabled(level) {
		return
	}
	e := s.With(lc)
	msg := ""
	f := make(logrus.Fields, len(data))
	for k, v := range data {
		if (k == "message" || k == "msg") && msg == "" {
			if str, ok := v.(string); ok {
				msg = str
				continue
			}
		}
		f[k] = v
	}
	e.WithFields(f).Log(toLogrus(level), msg)
}

// FromContext returns an entry carrying ctx's correlation ID and source.
func (s *Service) FromContext(ctx context.Context, source string) *logrus.Entry {
	return s.With(Context{CorrelationID: CorrelationID(ctx), Source: source})
}

// Flush writes the access lines accepted so far, then asks every sink to
// deliver what it buffered, until ctx ends.
func (s *Service) Flush(ctx context.Context) error {
	var errs []error
	s.mu.Lock()
	access := s.access
	s.mu.Unlock()
	if access != nil {
		if err := access.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("access log: %w", err))
		}
	}
	for _, k := range *s.sinks.Load() {
		if err := k.sink.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("log sink %s: %w", k.name, err))
		}
	}
	return errors.Join(errs...)
}

// Close writes the queued access lines (so the sinks get them too), then
// detaches the sinks and closes them concurrently; each flushes within its
// own configured deadline (and ctx). The console keeps working.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	access := s.access
	s.mu.Unlock()
	if access != nil {
		access.Close()
	}
	s.mu.Lock()
	sinks := *s.sinks.Swap(&[]sink{})
	s.mu.Unlock()
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, k := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.sink.Close(ctx); err != nil {
				errs[i] = fmt.Errorf("log sink %s: %w", k.name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CloseQuietly is Close without the sinks' own reports on the console
// (what they could not deliver, say): for a shutdown that said so already,
// after which nothing more is written.
func (s *Service) CloseQuietly(ctx context.Context) error {
	s.quiet.Store(true)
	return s.Close(ctx)
}

// exit is logrus's ExitFunc: Fatal flushes the sinks before the process ends.
func (s *Service) exit(code int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.Close(ctx)
	os.Exit(code)
}

// writeConsole writes whole lines to the console.
func (s *Service) writeConsole(p []byte) {
	if _, err := s.out.Write(p); err != nil {
		fmt.Fprintln(os.Stderr, "Failed to write to log:", err) // as logrus reports it
	}
}

// lockedWriter serializes writes to a writer that does not do it itself.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type correlationKey struct{}

// WithCorrelationID returns ctx carrying the correlation (request) ID.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return &correlated{Context: ctx, id: id}
}

// correlated carries a correlation ID in one allocation per request, where
// context.WithValue takes two (the context and the boxed string).
type correlated struct {
	context.Context
	id string
}

func (c *correlated) Value(key any) any {
	if _, ok := key.(correlationKey); ok {
		return c.id
	}
	return c.Context.Value(key)
}

// CorrelationID returns the correlation ID ctx carries, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

var levelOrder = providers.LogLevels

// logrusLevels maps navius's levels (trace..fatal, in order) to logrus's.
var logrusLevels = [...]logrus.Level{logrus.TraceLevel, logrus.DebugLevel, logrus.InfoLevel, logrus.WarnLevel, logrus.ErrorLevel, logrus.FatalLevel}

func toLogrus(l providers.LogLevel) logrus.Level {
	if int(l) < len(logrusLevels) {
		return logrusLevels[l]
	}
	return logrus.FatalLevel
}

func fromLogrus(l logrus.Level) providers.LogLevel {
	for i, ll := range logrusLevels {
		if ll == l {
			return providers.LogLevel(i)
		}
	}
	return providers.LevelFatal // fatal and panic
}

// countHook counts entries per level.
type countHook struct{ s *Service }

func (countHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h countHook) Fire(e *logrus.Entry) error {
	h.s.counts[fromLogrus(e.Level)].Add(1)
	return nil
}

// dispatchHook turns a logrus entry into a providers.LogEntry once and hands
// it to every sink whose level admits it.
type dispatchHook struct{ s *Service }

func (dispatchHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h dispatchHook) Fire(e *logrus.Entry) error {
	sinks := *h.s.sinks.Load()
	if len(sinks) == 0 {
		return nil
	}
	lvl := fromLogrus(e.Level)
	var le *providers.LogEntry
	for _, k := range sinks {
		if lvl < k.level {
			continue
		}
		if le == nil {
			le = toEntry(e, lvl)
		}
		k.sink.Write(le)
	}
	return nil
}

func toEntry(e *logrus.Entry, lvl providers.LogLevel) *providers.LogEntry {
	le := &providers.LogEntry{Time: e.Time, Level: lvl, Message: e.Message, Fields: make(map[string]any, len(e.Data))}
	for k, v := range e.Data {
		switch k {
		case CorrelationKey, "correlation_id":
			if id, ok := v.(string); ok && le.CorrelationID == "" {
				le.CorrelationID = id
				continue
			}
		case SourceKey:
			if src, ok := v.(string); ok {
				le.Source = src
				continue
			}
		}
		le.Fields[k] = plain(v)
	}
	return le
}

// plain turns values JSON would mangle into strings: errors (which marshal
// to {}), durations (nanoseconds) and Stringers.
func plain(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, []string:
		return v
	case error:
		return x.Error()
	case time.Duration:
		return x.String()
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case fmt.Stringer:
		return x.String()
	}
	return v
}
