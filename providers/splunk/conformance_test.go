package splunk_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
	"github.com/navius-dev/navius/providers/splunk"
)

// hecToken is what the conformance HEC expects; the suite's sinks send it.
const hecToken = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

// hecDestination is an HTTP Event Collector that accepts every batch and
// decodes its events back into log entries.
type hecDestination struct {
	mu      sync.Mutex
	entries []providers.LogEntry
}

func (d *hecDestination) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != splunk.EventPath || r.Header.Get("Authorization") != "Splunk "+hecToken {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"text":"Invalid token","code":4}`)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, `{"text":"Invalid data format","code":6}`, http.StatusBadRequest)
			return
		}
		body = zr
	}
	var batch []providers.LogEntry
	dec := json.NewDecoder(body)
	dec.UseNumber()
	for dec.More() {
		var ev struct {
			Event map[string]any `json:"event"`
		}
		if err := dec.Decode(&ev); err != nil {
			http.Error(w, `{"text":"Invalid data format","code":6}`, http.StatusBadRequest)
			return
		}
		batch = append(batch, entryOf(ev.Event))
	}
	d.mu.Lock()
	d.entries = append(d.entries, batch...)
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
}

// entryOf maps an HEC event object back to the entry it was made from (the
// reserved keys carry the entry's own fields; "field_" marks a field that
// shared a reserved name).
func entryOf(ev map[string]any) providers.LogEntry {
	e := providers.LogEntry{Fields: map[string]any{}}
	for k, v := range ev {
		s, _ := v.(string)
		switch k {
		case "message":
			e.Message = s
		case "level":
			e.Level, _ = providers.ParseLogLevel(s)
		case "component":
			e.Source = s
		case "correlation_id":
			e.CorrelationID = s
		default:
			e.Fields[strings.TrimPrefix(k, "field_")] = v
		}
	}
	return e
}

func (d *hecDestination) received() []providers.LogEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]providers.LogEntry(nil), d.entries...)
}

func TestLogSinkConformance(t *testing.T) {
	providertest.RunLogSinkTests(t, providertest.LogSinkHarness{
		Open: func(t *testing.T) (providers.LogSink, func() []providers.LogEntry) {
			dest := &hecDestination{}
			srv := httptest.NewServer(dest)
			t.Cleanup(srv.Close)
			// Opened through the registry's function, as navius opens it.
			sink, err := splunk.Open(t.Context(), providers.LogSinkConfig{
				Settings: providers.Settings{
					"splunk.endpoint": srv.URL, "splunk.token": hecToken, "splunk.gzip": "true",
					"splunk.batch_size": "7", "splunk.flush_interval": "1h",
					"splunk.retry_backoff": "1ms", "splunk.retry_max_backoff": "5ms",
					"splunk.shutdown_timeout": "5s", "splunk.warn_interval": "1h",
				},
				Console: func(providers.LogLevel, string, map[string]any) {},
			})
			if err != nil {
				t.Fatal(err)
			}
			return sink, dest.received
		},
	})
}
