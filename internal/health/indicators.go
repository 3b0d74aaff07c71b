package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Pinger is what the database indicator checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Database pings the database; critical, with the round-trip latency as the
// observed value.
func Database(db Pinger, provider string) providers.HealthIndicator {
	return providers.HealthIndicator{
		Name: "database", Order: 10, Critical: true, ComponentType: "datastore",
		Metadata: map[string]string{"provider": provider},
		Check: func(ctx context.Context) providers.HealthResult {
			start := time.Now()
			err := db.Ping(ctx)
			r := providers.HealthResult{Status: providers.StatusUp, ObservedValue: ms(time.Since(start)), ObservedUnit: "ms",
				Details: map[string]any{"provider": provider}}
			if err != nil {
				r.Status, r.Error = providers.StatusDown, err.Error()
			}
			return r
		},
	}
}

// Cache writes, reads and deletes a probe entry; not critical, because reads
// fall through to the database when the cache fails. The hit ratio it
// reports leaves out the probe's own lookups.
func Cache(c providers.Cache, provider string) providers.HealthIndicator {
	var probeHits, probeMisses atomic.Uint64
	return providers.HealthIndicator{
		Name: "cache", Order: 20, ComponentType: "datastore",
		Metadata: map[string]string{"provider": provider},
		Check: func(ctx context.Context) providers.HealthResult {
			var b [8]byte
			_, _ = rand.Read(b[:])
			key, want := "\x00navius-health-probe", hex.EncodeToString(b[:])
			start := time.Now()
			err := c.Set(ctx, key, []byte(want), 10*time.Second)
			var got []byte
			var ok bool
			if err == nil {
				got, ok, err = c.Get(ctx, key)
				if err == nil && ok {
					probeHits.Add(1)
				} else if err == nil {
					probeMisses.Add(1)
				}
			}
			if err == nil {
				err = c.Delete(ctx, key)
			}
			r := providers.HealthResult{Status: providers.StatusUp, ObservedValue: ms(time.Since(start)), ObservedUnit: "ms",
				Details: map[string]any{"provider": provider}}
			if st, serr := c.Stats(ctx); serr == nil {
				st.Hits -= min(st.Hits, probeHits.Load())
				st.Misses -= min(st.Misses, probeMisses.Load())
				r.Details["entries"] = st.Entries
				r.Details["hit_ratio"] = st.HitRatio()
			}
			switch {
			case err != nil:
				r.Status, r.Error = providers.StatusDown, err.Error()
			case !ok || string(got) != want:
				r.Status, r.Error = providers.StatusDown, "round trip lost the probe entry"
			}
			return r
		},
	}
}

// Disk reports free space on path's file system; DOWN below minFree.
func Disk(path string, minFree int64) providers.HealthIndicator {
	return providers.HealthIndicator{
		Name: "disk_space", Order: 30, ComponentType: "system",
		Check: func(ctx context.Context) providers.HealthResult {
			free, total, err := diskSpace(path)
			if err != nil {
				return providers.HealthResult{Status: providers.StatusUnknown, Error: err.Error()}
			}
			r := providers.HealthResult{Status: providers.StatusUp, ObservedValue: free, ObservedUnit: "bytes",
				Details: map[string]any{"path": path, "free": free, "total": total, "threshold": minFree}}
			if int64(free) < minFree {
				r.Status, r.Error = providers.StatusDown, fmt.Sprintf("%d bytes free, below the %d byte threshold", free, minFree)
			}
			return r
		},
	}
}

// Environment describes the process; always UP.
func Environment(started time.Time) providers.HealthIndicator {
	host, _ := os.Hostname()
	return providers.HealthIndicator{
		Name: "environment", Order: 40, ComponentType: "system",
		Check: func(ctx context.Context) providers.HealthResult {
			return providers.HealthResult{Status: providers.StatusUp, Details: map[string]any{
				"go_version": runtime.Version(),
				"platform":   runtime.GOOS + "/" + runtime.GOARCH,
				"hostname":   host,
				"pid":        os.Getpid(),
				"cpus":       runtime.NumCPU(),
				"goroutines": runtime.NumGoroutine(),
				"uptime":     time.Since(started).Round(time.Second).String(),
			}}
		},
	}
}

// Registry lists the active provider of each service and the compiled-in
// features; always UP.
func Registry(active map[string]string, features []string) providers.HealthIndicator {
	return providers.HealthIndicator{
		Name: "service_registry", Order: 50, ComponentType: "component",
		Check: func(ctx context.Context) providers.HealthResult {
			return providers.HealthResult{Status: providers.StatusUp, Details: map[string]any{
				"providers": active,
				"features":  features,
			}}
		},
	}
}
