package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/navius-dev/navius/providers/bolt"
)

// BenchmarkSetConcurrent measures committed writes per second from 64
// concurrent writers, batched with bbolt's Batch against one transaction (and
// fsync) per write:
//
//	go test -run x -bench SetConcurrent -benchtime 3s ./providers/bolt
func BenchmarkSetConcurrent(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  bolt.Config
	}{{"batch", bolt.Config{}}, {"tx-per-write", bolt.Config{NoBatch: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), mode.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			value := make([]byte, 256)
			var n atomic.Int64
			b.SetParallelism(32) // 32 x GOMAXPROCS writers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := db.Set(context.Background(), "bench", fmt.Sprint(n.Add(1)), value); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
		})
	}
}
