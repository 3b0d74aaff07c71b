package observe

import (
	"context"
	"strings"
	"sync"

	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/providers"
)

var healthStatuses = []providers.Status{providers.StatusUp, providers.StatusDown, providers.StatusUnknown}

// HealthObserver returns a function for health.Service.Observe that
// publishes each indicator's status (navius_health_status{indicator,status},
// 1 for the current status and 0 for the others) and check duration. It is
// nil when no metrics provider is active.
func (s *Service) HealthObserver() func(name string, c health.Component) {
	if !s.Metrics() {
		return nil
	}
	status := s.NewGauge(providers.Metric{Name: "health_status", Labels: []string{"indicator", "status"},
		Help: "Health of each indicator: 1 for its current status (UP, DOWN or UNKNOWN), 0 for the others."})
	duration := s.NewHistogram(providers.Metric{Name: "health_check_duration", Unit: "seconds", Labels: []string{"indicator"}, Buckets: StorageBuckets,
		Help: "Time each health indicator's check took."})
	return func(name string, c health.Component) {
		for _, st := range healthStatuses {
			v := 0.0
			if c.Status == st {
				v = 1
			}
			status.Set(v, name, string(st))
		}
		duration.Observe(c.Duration.Seconds(), name)
	}
}

// ExportLogCounts publishes the logging service's per-level counts (read
// by read at each scrape or push) as navius_log_messages_total{level}, so
// the metric and the logging service's stats are one count; a level
// appears once it has a message. It does nothing when no metrics provider
// is active.
func (s *Service) ExportLogCounts(read func() map[string]uint64) {
	s.ExportCounter(providers.Metric{Name: "log_messages", Labels: []string{"level"}, Help: "Log messages written, by level."}, func() []Sample {
		var out []Sample
		for level, n := range read() {
			if n > 0 {
				out = append(out, Sample{Labels: []string{level}, Value: n})
			}
		}
		return out
	})
}

// ExportAccessLogDrops publishes the access log's dropped lines (read by
// read at each scrape or push) as navius_access_log_dropped_total. It does
// nothing when no metrics provider is active.
func (s *Service) ExportAccessLogDrops(read func() uint64) {
	s.ExportCounter(providers.Metric{Name: "access_log_dropped",
		Help: "Access log lines dropped because the log output could not keep up (the access log's queue was full)."},
		func() []Sample { return []Sample{{Value: read()}} })
}

// ExportLogSinkStats publishes the log sinks' losses and deliveries (read
// at each scrape or push) as navius_log_sink_events_total{sink,outcome}:
// outcome dropped (refused because the sink's queue was full), failed
// (rejected by the destination or out of retries) and sent, so that an
// alert can fire on a sink losing events (Splunk unreachable under load).
// It does nothing when no metrics provider is active.
func (s *Service) ExportLogSinkStats(read func() map[string]providers.LogSinkStats) {
	s.ExportCounter(providers.Metric{Name: "log_sink_events", Labels: []string{"sink", "outcome"},
		Help: "Events handed to each log sink, by outcome: sent, dropped (the sink's queue was full) or failed (rejected, or out of retries)."},
		func() []Sample {
			var out []Sample
			for sink, st := range read() {
				out = append(out,
					Sample{Labels: []string{sink, "sent"}, Value: st.Sent},
					Sample{Labels: []string{sink, "dropped"}, Value: st.Dropped},
					Sample{Labels: []string{sink, "failed"}, Value: st.Failed})
			}
			return out
		})
}

// Sample is one series of a metric read at collection: its label values
// and its value (a count since the start, or a level).
type Sample struct {
	Labels []string
	Value  uint64
}

// ExportCounter publishes counts kept elsewhere (read by read at each
// scrape or push) as the counter m: each series grows by what its count
// grew, and exists, at 0, from its first reading. It does nothing when no
// metrics provider is active.
func (s *Service) ExportCounter(m providers.Metric, read func() []Sample) {
	if !s.Metrics() {
		return
	}
	m.Kind = providers.Counter
	c := s.NewCounter(m)
	var mu sync.Mutex
	published := map[string]uint64{}
	collect := func(context.Context) {
		mu.Lock()
		defer mu.Unlock()
		for _, smp := range read() {
			k := strings.Join(smp.Labels, "\x00")
			if last, seen := published[k]; !seen || smp.Value > last {
				c.Add(float64(smp.Value-last), smp.Labels...)
				published[k] = smp.Value
			}
		}
	}
	collect(context.Background())
	s.OnCollect(collect)
}

// ExportGauge publishes levels kept elsewhere (read at each scrape or push)
// as the gauge m. It does nothing when no metrics provider is active.
func (s *Service) ExportGauge(m providers.Metric, read func() []Sample) {
	if !s.Metrics() {
		return
	}
	m.Kind = providers.Gauge
	g := s.NewGauge(m)
	collect := func(context.Context) {
		for _, smp := range read() {
			g.Set(float64(smp.Value), smp.Labels...)
		}
	}
	collect(context.Background())
	s.OnCollect(collect)
}
