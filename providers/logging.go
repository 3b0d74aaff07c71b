package providers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// LogLevel is a log severity, from the most verbose (LevelTrace) to the most
// severe (LevelFatal).
type LogLevel uint8

const (
	LevelTrace LogLevel = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelFatal
)

// LogLevels lists every level from the most verbose to the most severe.
var LogLevels = []LogLevel{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError, LevelFatal}

var levelNames = [...]string{"trace", "debug", "info", "warn", "error", "fatal"}

func (l LogLevel) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("level(%d)", uint8(l))
}

// ParseLogLevel reads "trace".."fatal" ("warning" is taken for "warn").
func ParseLogLevel(s string) (LogLevel, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "warning" {
		s = "warn"
	}
	for i, n := range levelNames {
		if n == s {
			return LogLevel(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not a level (trace, debug, info, warn, error, fatal)", s)
}

// LogEntry is one structured log entry as a sink receives it. Sinks must
// treat it as read-only and copy what they keep beyond Write.
type LogEntry struct {
	Time    time.Time
	Level   LogLevel
	Message string
	// CorrelationID ties entries of one request together (the request ID).
	CorrelationID string
	// Source is the component that logged the entry, e.g. "http", "app".
	Source string
	// Fields are the entry's other structured fields. Values are strings,
	// numbers, booleans or other JSON-encodable values (errors arrive as
	// their message).
	Fields map[string]any
}

// LogSink is the contract of a logging provider: a destination for log
// entries besides the console (e.g. Splunk HEC). All methods are safe for
// concurrent use.
type LogSink interface {
	// Write hands over one entry. It must not block on the network: a sink
	// that cannot keep up drops entries and counts them.
	Write(e *LogEntry)
	// Flush delivers what the sink has buffered, until ctx ends.
	Flush(ctx context.Context) error
	// Close flushes (within the sink's configured deadline, and ctx) and
	// releases the sink; later Writes are dropped.
	Close(ctx context.Context) error
}

// LogSinkStats are a sink's delivery counters. Written = Accepted + Dropped;
// once the sink is idle, Accepted = Sent + Failed.
type LogSinkStats struct {
	// Accepted entries were queued for delivery.
	Accepted uint64 `json:"accepted"`
	// Dropped entries were refused because the queue was full (or the sink
	// closed); they never left the process.
	Dropped uint64 `json:"dropped"`
	// Sent entries were delivered (and acknowledged, with acknowledgement on).
	Sent uint64 `json:"sent"`
	// Failed entries were given up: rejected by the destination or out of
	// retries.
	Failed uint64 `json:"failed"`
	// Queued entries and bytes wait for delivery right now.
	Queued      int64 `json:"queued"`
	QueuedBytes int64 `json:"queued_bytes"`
	// Batches sent successfully, and retries of batches.
	Batches uint64 `json:"batches"`
	Retries uint64 `json:"retries"`
}

// LogSinkStatser is implemented by sinks that count deliveries.
type LogSinkStatser interface {
	Stats() LogSinkStats
}

// LogSinkConfig is what a logging provider opens a sink with.
type LogSinkConfig struct {
	// Settings holds every configured option; the provider's own are under
	// its section (e.g. "splunk.endpoint").
	Settings Settings
	// Console reports the sink's own problems (drops, rejections) on the
	// console only, never back into sinks. Never nil.
	Console func(level LogLevel, msg string, fields map[string]any)
}

// LogSinkProvider describes a logging provider.
type LogSinkProvider struct {
	Name string
	// Enabled tells whether the configuration turns the sink on (e.g. the
	// Splunk endpoint is set).
	Enabled func(Settings) bool
	// Level is the least severe level the sink receives, from the config.
	Level func(Settings) LogLevel
	// Open creates the sink; an error wrapping ErrInvalid is a config error.
	Open func(ctx context.Context, cfg LogSinkConfig) (LogSink, error)
	// Check is what Open would refuse in the settings, found without
	// opening anything (see RegisterDatabase); it runs when Enabled holds,
	// in navius config check and before Open. Optional only for providers
	// written before it existed.
	Check func(Settings) error
}

// CheckLogSinks runs the check of every registered logging provider that s
// turns on and returns each problem found.
func CheckLogSinks(s Settings) []error {
	var errs []error
	for _, p := range LogSinkProviders() {
		if p.Check != nil && p.Enabled(s) {
			if err := p.Check(s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

var logSinks struct {
	sync.RWMutex
	byName map[string]LogSinkProvider
}

// RegisterLogSink registers a logging provider; it panics on a duplicate
// name or a missing function, like RegisterDatabase.
func RegisterLogSink(p LogSinkProvider) {
	logSinks.Lock()
	defer logSinks.Unlock()
	if p.Name == "" || p.Enabled == nil || p.Open == nil {
		panic(fmt.Sprintf("log sink: RegisterLogSink %q needs a name, Enabled and Open", p.Name))
	}
	if logSinks.byName == nil {
		logSinks.byName = map[string]LogSinkProvider{}
	}
	if _, dup := logSinks.byName[p.Name]; dup {
		panic(fmt.Sprintf("log sink: RegisterLogSink called twice for provider %q", p.Name))
	}
	logSinks.byName[p.Name] = p
}

// LogSinkProviders returns the registered logging providers sorted by name.
func LogSinkProviders() []LogSinkProvider {
	logSinks.RLock()
	defer logSinks.RUnlock()
	return sortedValues(logSinks.byName)
}
