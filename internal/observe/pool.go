package observe

import (
	"context"

	"github.com/navius-dev/navius/providers"
)

// poolMetrics publishes the connection pool figures of a database provider
// that keeps a pool (navius_database_pool_connections{provider,state} for
// the idle, acquired and constructing connections, and
// navius_database_pool_max_connections), read at each collection.
func (s *Service) poolMetrics(db providers.Database, provider string) {
	pr, ok := db.(providers.PoolReporter)
	if !ok || !s.Metrics() {
		return
	}
	conns := s.NewGauge(providers.Metric{Name: "database_pool_connections", Labels: []string{"provider", "state"},
		Help: "Open connections of the database pool by state: idle, acquired (in use) or constructing; their sum is the pool's total."})
	maxConns := s.NewGauge(providers.Metric{Name: "database_pool_max_connections", Labels: []string{"provider"},
		Help: "Configured size of the database pool (database.max_connections)."})
	s.OnCollect(func(context.Context) {
		st := pr.PoolStats()
		conns.Set(float64(st.Idle), provider, "idle")
		conns.Set(float64(st.Acquired), provider, "acquired")
		conns.Set(float64(st.Constructing), provider, "constructing")
		maxConns.Set(float64(st.Max), provider)
	})
}
