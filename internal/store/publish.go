package store

import (
	"errors"

	"github.com/navius-dev/navius/providers"
)

// ChangeKind is what a write did to one entry.
type ChangeKind uint8

const (
	// Unchanged: nothing was written (a failed precondition, the delete of
	// an absent key, a refused request).
	Unchanged ChangeKind = iota
	// Put: the entry was written.
	Put
	// Deleted: the entry was deleted.
	Deleted
	// Expired: a sweep removed the entry, which had expired.
	Expired
	// Unknown: the write failed in a way that may have written it (a
	// timeout); only reading the entry tells.
	Unknown
)

// Change is what a write did to one entry, as a Publisher hears it.
type Change struct {
	Kind            ChangeKind
	Collection, Key string
	// Version and Value of a Put.
	Version string
	Value   []byte
}

// Publisher hears of the changes made through a Store, for watchers (the
// watch hub). The store calls it synchronously, so that it hears of each
// write before the write returns.
type Publisher interface {
	// Begin is called before a write, a delete or a batch goes to the
	// database, with the keys it writes (Collection and Key set); end is
	// called once the database answered, with what happened to each key in
	// the same order.
	Begin(changes []Change) (end func([]Change))
	// BeginSweep is called before a sweep of expired entries; end is called
	// after it with the entries it removed, and how many more it removed
	// without naming them (providers without providers.ExpiryReporter).
	BeginSweep() (end func(expired []Change, unnamed int))
}

// publishing brackets a write of one key for the publisher: the function it
// returns reports the outcome (its Collection and Key are filled in). With
// no publisher it does nothing.
func (s *Store) publishing(coll, key string) func(Change) {
	if s.pub == nil {
		return func(Change) {}
	}
	changes := []Change{{Collection: coll, Key: key}}
	end := s.pub.Begin(changes)
	return func(c Change) {
		c.Collection, c.Key = coll, key
		changes[0] = c
		end(changes)
	}
}

// outcome is the kind of change a write made, given its error: done when it
// succeeded, Unchanged when it certainly wrote nothing, else Unknown.
func outcome(err error, done ChangeKind) ChangeKind {
	switch {
	case err == nil:
		return done
	case errors.Is(err, providers.ErrPrecondition), errors.Is(err, providers.ErrInvalid), errors.Is(err, providers.ErrUnsupported),
		errors.Is(err, providers.ErrNotAtomic), errors.Is(err, providers.ErrClosed):
		return Unchanged
	}
	return Unknown
}
