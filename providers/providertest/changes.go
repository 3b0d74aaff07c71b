package providertest

import "sync"

// ChangeRecorder collects what a change feed delivers, as "collection/key"
// ("/" for drop everything); its zero value is ready, and Add is the
// function to give providers.ChangeFeed.Changes.
type ChangeRecorder struct {
	mu  sync.Mutex
	got []string
}

// Add records one change.
func (r *ChangeRecorder) Add(coll, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, coll+"/"+key)
}

// Count is how many times want ("collection/key") was delivered.
func (r *ChangeRecorder) Count(want string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got {
		if g == want {
			n++
		}
	}
	return n
}

// All is everything delivered so far, in order.
func (r *ChangeRecorder) All() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// Seen is a condition to wait for: want has been delivered.
func (r *ChangeRecorder) Seen(want string) func() bool {
	return func() bool { return r.Count(want) > 0 }
}

// Reset forgets what was delivered.
func (r *ChangeRecorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = nil
}
