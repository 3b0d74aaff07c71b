module example.com/navius-shardmem

go 1.26.0

require (
	github.com/navius-dev/navius v0.0.0-00010101000000-000000000000
	github.com/zeebo/xxh3 v1.1.0
	// One minor version above navius's own requirement, on purpose (see
	// the package comment): keep it above navius's go.mod.
	golang.org/x/sys v0.49.0
)

require github.com/klauspost/cpuid/v2 v2.2.10 // indirect

replace github.com/navius-dev/navius => ../../..
