package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// The cost of one Get, Put and Query page, on a file of 10,000 keys of 256
// bytes. They use only the methods navius had before versions, so the
// same file runs against an older tree for a before/after comparison:
//
//	go test -run '^$' -bench 'Benchmark(Get|Put|Query)$' -benchmem -count 6 ./providers/bolt

const benchKeys = 10_000

func benchDB(b *testing.B, noSync bool) (*Database, []string) {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"), Config{NoBatch: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	keys := make([]string, benchKeys)
	value := make([]byte, 256)
	db.db.NoSync = true // filling is not what is measured
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%05d", i)
		if err := db.Set(context.Background(), "bench", keys[i], value); err != nil {
			b.Fatal(err)
		}
	}
	db.db.NoSync = noSync
	return db, keys
}

func BenchmarkGet(b *testing.B) {
	db, keys := benchDB(b, false)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := db.Get(ctx, "bench", keys[i%benchKeys]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut overwrites keys one after another, each in its own
// transaction: "fsync" as shipped (the fsync dominates), "nosync" without
// it, which leaves the work of the write itself.
func BenchmarkPut(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			db, keys := benchDB(b, mode.noSync)
			ctx := context.Background()
			value := make([]byte, 256)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := db.Set(ctx, "bench", keys[i%benchKeys], value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuery reads pages of 100 items.
func BenchmarkQuery(b *testing.B) {
	db, _ := benchDB(b, false)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cursor := ""
	for range b.N {
		page, err := db.Query(ctx, "bench", providers.Query{Limit: 100, Cursor: cursor})
		if err != nil || len(page.Items) == 0 {
			b.Fatal(len(page.Items), err)
		}
		cursor = page.NextCursor
	}
}
