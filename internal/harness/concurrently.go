package harness

import "sync"

// Concurrently calls fn(w, i) for i from 0 to each-1 in each of workers
// goroutines, w being the goroutine's number, and waits for them all. A
// goroutine stops at its first error; Concurrently returns the first error
// any of them returned. providertest.Concurrently, for the conformance
// suites and providers' own tests, is this one.
func Concurrently(workers, each int, fn func(w, i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := fn(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
