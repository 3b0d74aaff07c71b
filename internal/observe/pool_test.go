package observe_test

import (
	"context"
	"testing"

	"github.com/navius-dev/navius/internal/observe"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

// pooled is a database that reports a connection pool.
type pooled struct {
	providers.Database
	stats providers.PoolStats
}

func (p *pooled) PoolStats() providers.PoolStats { return p.stats }

// TestPoolMetrics: a provider with a pool gets its figures published at
// each collection; one without gets none.
func TestPoolMetrics(t *testing.T) {
	rec := newRecorder()
	svc := observe.New(nil, map[string]providers.Observer{"rec": rec})
	db := &pooled{Database: memory.NewDatabase(), stats: providers.PoolStats{Max: 10, Total: 4, Idle: 3, Acquired: 1}}
	svc.Database(db, "pg")
	svc.Database(memory.NewDatabase(), "memory")
	svc.Collect(context.Background())
	db.stats = providers.PoolStats{Max: 10, Total: 6, Idle: 1, Acquired: 4, Constructing: 1}
	svc.Collect(context.Background())
	last := func(labels string) float64 {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		v := -1.0
		for _, x := range rec.values["database_pool_connections"] {
			if x.labels == labels {
				v = x.v
			}
		}
		return v
	}
	for state, want := range map[string]float64{"idle": 1, "acquired": 4, "constructing": 1} {
		if got := last("provider=pg,state=" + state); got != want {
			t.Errorf("database_pool_connections{pg,%s} = %v, want %v", state, got, want)
		}
	}
	if got := rec.sum("database_pool_max_connections", "provider=pg"); got != 20 { // set twice
		t.Errorf("database_pool_max_connections{pg} set to %v over two collections, want 10 each", got)
	}
	if n := rec.count("database_pool_connections", "provider=memory,state=idle"); n != 0 {
		t.Errorf("a provider without a pool got pool metrics")
	}
}
