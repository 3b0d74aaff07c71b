package providertest

import "github.com/navius-dev/navius/internal/harness"

// Concurrently calls fn(w, i) for i from 0 to each-1 in each of workers
// goroutines, w being the goroutine's number, and waits for them all. A
// goroutine stops at its first error; Concurrently returns the first error
// any of them returned. The suites' concurrency cases use it, and so may a
// provider's own tests (it is internal/harness's, which a provider module
// outside navius cannot import).
func Concurrently(workers, each int, fn func(w, i int) error) error {
	return harness.Concurrently(workers, each, fn)
}
