package harness

import (
	"testing"
	"time"

	"github.com/navius-dev/navius/client"
)

// NextEvent reads a Go client watcher's next event within a bound; a watch
// that ends, or no event in time, fails the test.
func NextEvent(t testing.TB, w *client.Watcher, within time.Duration) client.Event {
	t.Helper()
	select {
	case e, ok := <-w.Events():
		if !ok {
			t.Fatalf("the watch ended: %v", w.Err())
		}
		return e
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return client.Event{}
}
