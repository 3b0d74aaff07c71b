package builder

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// webMetrics are builder serve's counters, written in Prometheus's text
// format by hand: the builder must not bring in the prometheus feature's
// client library.
type webMetrics struct {
	mu sync.Mutex
	// requests by outcome: built, cached (a cache hit), joined (the same
	// build already under way), failed, refused (bad input, limits).
	built, cached, joined, failed, refused, cancelled int64
	evictions                                         int64
	durationSum                                       float64 // seconds, of the builds that completed
	durationCount                                     int64
	verified, verifyRefused                           int64
	cacheEntries, cacheBytes                          int64
	waiting, running                                  int64
}

func (m *webMetrics) add(counter *int64, n int64) {
	m.mu.Lock()
	*counter += n
	m.mu.Unlock()
}

func (m *webMetrics) observeBuild(d time.Duration) {
	m.mu.Lock()
	m.built++
	m.durationSum += d.Seconds()
	m.durationCount++
	m.mu.Unlock()
}

func (m *webMetrics) setCache(entries, bytes int64) {
	m.mu.Lock()
	m.cacheEntries, m.cacheBytes = entries, bytes
	m.mu.Unlock()
}

func (m *webMetrics) setQueue(waiting, running int) {
	m.mu.Lock()
	m.waiting, m.running = int64(waiting), int64(running)
	m.mu.Unlock()
}

// write renders the metrics in the Prometheus text exposition format.
func (m *webMetrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP navius_builder_requests_total Build requests by outcome: built, cached (served from the result cache), joined (the same build under way), failed, refused (bad input or a limit), cancelled.\n")
	fmt.Fprintf(w, "# TYPE navius_builder_requests_total counter\n")
	for _, r := range []struct {
		name string
		n    int64
	}{{"built", m.built}, {"cached", m.cached}, {"joined", m.joined}, {"failed", m.failed}, {"refused", m.refused}, {"cancelled", m.cancelled}} {
		fmt.Fprintf(w, "navius_builder_requests_total{outcome=%q} %d\n", r.name, r.n)
	}
	fmt.Fprintf(w, "# HELP navius_builder_cache_hits_total Build requests answered from the result cache.\n# TYPE navius_builder_cache_hits_total counter\nnavius_builder_cache_hits_total %d\n", m.cached)
	fmt.Fprintf(w, "# HELP navius_builder_build_failures_total Builds that failed (a module refused by its verification included).\n# TYPE navius_builder_build_failures_total counter\nnavius_builder_build_failures_total %d\n", m.failed)
	fmt.Fprintf(w, "# HELP navius_builder_build_duration_seconds Time the completed builds took, from start to the result in the cache.\n# TYPE navius_builder_build_duration_seconds summary\n")
	fmt.Fprintf(w, "navius_builder_build_duration_seconds_sum %g\nnavius_builder_build_duration_seconds_count %d\n", m.durationSum, m.durationCount)
	fmt.Fprintf(w, "# HELP navius_builder_module_verifications_total Catalog modules verified before their first build, by result.\n# TYPE navius_builder_module_verifications_total counter\n")
	fmt.Fprintf(w, "navius_builder_module_verifications_total{result=\"verified\"} %d\nnavius_builder_module_verifications_total{result=\"refused\"} %d\n", m.verified, m.verifyRefused)
	fmt.Fprintf(w, "# HELP navius_builder_cache_evictions_total Results removed from the cache to keep it within --cache-size.\n# TYPE navius_builder_cache_evictions_total counter\nnavius_builder_cache_evictions_total %d\n", m.evictions)
	fmt.Fprintf(w, "# HELP navius_builder_cache_entries Results in the cache.\n# TYPE navius_builder_cache_entries gauge\nnavius_builder_cache_entries %d\n", m.cacheEntries)
	fmt.Fprintf(w, "# HELP navius_builder_cache_bytes Bytes of results in the cache.\n# TYPE navius_builder_cache_bytes gauge\nnavius_builder_cache_bytes %d\n", m.cacheBytes)
	fmt.Fprintf(w, "# HELP navius_builder_builds_waiting Builds in the queue.\n# TYPE navius_builder_builds_waiting gauge\nnavius_builder_builds_waiting %d\n", m.waiting)
	fmt.Fprintf(w, "# HELP navius_builder_builds_running Builds running.\n# TYPE navius_builder_builds_running gauge\nnavius_builder_builds_running %d\n", m.running)
}
