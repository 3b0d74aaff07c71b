package providers

// PoolStats is a snapshot of a networked provider's connection pool.
type PoolStats struct {
	// Max is the configured pool size (database.max_connections).
	Max int
	// Total is every open connection: Idle, Acquired and Constructing.
	Total        int
	Idle         int
	Acquired     int // in use by an operation
	Constructing int // being opened
}

// PoolReporter is implemented by providers that keep a connection pool, so
// that the observability service can publish its figures as metrics.
type PoolReporter interface {
	PoolStats() PoolStats
}
