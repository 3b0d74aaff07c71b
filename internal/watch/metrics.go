package watch

import (
	"context"
	"sync"

	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/providers"
)

// Export publishes the hub's figures, read at each scrape or push:
// navius_watch_watchers, navius_watch_events_sent_total,
// navius_watch_resyncs_total and navius_watch_slow_closes_total. It does
// nothing when no metrics provider is active.
func (h *Hub) Export(o *observe.Service) {
	if !o.Metrics() {
		return
	}
	watchers := o.NewGauge(providers.Metric{Name: "watch_watchers", Help: "Open watch streams (GET /api/v1/{collection}?watch=1)."})
	sent := o.NewCounter(providers.Metric{Name: "watch_events_sent", Help: "Events written to watch streams, resyncs included, heartbeats not."})
	resyncs := o.NewCounter(providers.Metric{Name: "watch_resyncs", Help: "Resync events written to watch streams: their clients had to list again."})
	slow := o.NewCounter(providers.Metric{Name: "watch_slow_closes", Help: "Watch streams closed because their client did not keep up (a full buffer or a write timeout)."})
	for _, c := range []*observe.Counter{sent, resyncs, slow} {
		c.Add(0) // the series exist, at 0, from the start
	}
	var mu sync.Mutex
	var last Stats
	o.OnCollect(func(context.Context) {
		mu.Lock()
		defer mu.Unlock()
		st := h.Stats()
		watchers.Set(float64(st.Watchers))
		sent.Add(float64(st.Sent - last.Sent))
		resyncs.Add(float64(st.Resyncs - last.Resyncs))
		slow.Add(float64(st.SlowCloses - last.SlowCloses))
		last = st
	})
}
