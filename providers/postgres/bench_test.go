package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/postgres"
)

// The provider's own cost on today's paths and the new ones, against the
// package's PostgreSQL (fsync off), 8 goroutines on a pool of 8:
//
//	go test -run '^$' -bench . -benchmem ./providers/postgres/
//
// BenchmarkGet and BenchmarkSet use only the API navius had before
// versions, so the same file measures an older tree too.

const benchKeys = 1000

func benchDB(b *testing.B) providers.Database {
	b.Helper()
	ctx := context.Background()
	var db providers.Database
	db, err := postgres.OpenDatabase(ctx, providers.DatabaseConfig{
		URL: srv.URL("postgres"), MaxConnections: 8, Timeout: 5 * time.Second, Settings: settings("postgres.table", freshTable()),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	for i := range benchKeys {
		if err := db.Set(ctx, "bench", fmt.Sprintf("k%04d", i), make([]byte, 256)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // about as many goroutines as connections
	return db
}

// BenchmarkGet reads random keys (a GET with the cache off).
func BenchmarkGet(b *testing.B) {
	db := benchDB(b)
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Get(ctx, "bench", fmt.Sprintf("k%04d", rand.IntN(benchKeys))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSet overwrites random keys (a PUT, announced after the write).
func BenchmarkSet(b *testing.B) {
	db := benchDB(b)
	ctx := context.Background()
	value := make([]byte, 256)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Set(ctx, "bench", fmt.Sprintf("k%04d", rand.IntN(benchKeys)), value); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
