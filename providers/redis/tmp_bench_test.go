package redis_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
	redispkg "github.com/navius-dev/navius/providers/redis"
)

func BenchmarkTmpTopologies(b *testing.B) {
	ctx := context.Background()
	one := redistest.Start(b)
	cl := redistest.StartCluster(b)
	for _, tc := range []struct{ name, url string }{{"one", one.URL(0)}, {"cluster", cl.URL()}} {
		db, err := redisOpen(tc.url)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			db.Set(ctx, "c", fmt.Sprint(i), []byte("v"))
		}
		b.Run(tc.name+"/get", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					db.Get(ctx, "c", fmt.Sprint(i%1000))
				}
			})
		})
		b.Run(tc.name+"/set", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					db.Set(ctx, "c", fmt.Sprint(i%1000), []byte("v"))
				}
			})
		})
	}
}

func redisOpen(url string) (providers.Database, error) {
	return redisOpenDB(url)
}

func redisOpenDB(url string) (providers.Database, error) {
	return redispkg.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: url, MaxConnections: 32, Settings: settings()})
}
