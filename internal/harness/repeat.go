package harness

import (
	"sync"
	"time"
)

// Repeat runs n goroutines that each call f with their number (0 to n-1)
// again and again, each call after pause (at once when pause is 0), until
// f returns false or stop is called: the load a test or benchmark keeps up,
// or the sampling it does, while it does something else. stop ends the
// calls and waits for every goroutine to return.
func Repeat(n int, pause time.Duration, f func(i int) bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if pause > 0 {
					select {
					case <-done:
						return
					case <-time.After(pause):
					}
				} else {
					select {
					case <-done:
						return
					default:
					}
				}
				if !f(i) {
					return
				}
			}
		}()
	}
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
}
