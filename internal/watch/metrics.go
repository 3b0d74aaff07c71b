package watch

import (
	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/providers"
)

// Export publishes the hub's figures, read at each scrape or push:
// navius_watch_watchers, navius_watch_events_sent_total,
// navius_watch_resyncs_total and navius_watch_slow_closes_total. It does
// nothing when no metrics provider is active.
func (h *Hub) Export(o *observe.Service) {
	o.ExportGauge(providers.Metric{Name: "watch_watchers", Help: "Open watch streams (GET /api/v1/{collection}?watch=1)."},
		func() []observe.Sample { return []observe.Sample{{Value: uint64(h.Stats().Watchers)}} })
	counters := []struct {
		m    providers.Metric
		read func(Stats) uint64
	}{
		{providers.Metric{Name: "watch_events_sent", Help: "Events written to watch streams, resyncs included, heartbeats not."},
			func(st Stats) uint64 { return st.Sent }},
		{providers.Metric{Name: "watch_resyncs", Help: "Resync events written to watch streams: their clients had to list again."},
			func(st Stats) uint64 { return st.Resyncs }},
		{providers.Metric{Name: "watch_slow_closes", Help: "Watch streams closed because their client did not keep up (a full buffer or a write timeout)."},
			func(st Stats) uint64 { return st.SlowCloses }},
	}
	for _, c := range counters {
		o.ExportCounter(c.m, func() []observe.Sample { return []observe.Sample{{Value: c.read(h.Stats())}} })
	}
}
