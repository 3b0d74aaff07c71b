package providers

import "context"

// Two optional extensions that let navius's watch streams say what happened
// to an entry rather than only that something did. Without them watchers
// still see every change: a sweep that cannot name what it removed becomes
// a "resync" (list again), and another instance's change is read back from
// the database, an expired entry then showing as a delete.

// ExpiryReporter is an Expiring provider whose sweep names the entries it
// removed, so that watchers get an "expire" event per entry.
type ExpiryReporter interface {
	Expiring
	// SweepKeys is Sweep that calls removed with the collection and key of
	// each entry it removed, once the removal is committed, before it
	// returns; removed must not call the provider. On an error, the
	// entries it named are removed; others may be too.
	SweepKeys(ctx context.Context, limit int, removed func(collection, key string)) (int, error)
}

// ChangeKind is what a change another instance made was.
type ChangeKind uint8

const (
	// ChangeWritten is a put or a delete (all that ChangeFeed tells).
	ChangeWritten ChangeKind = iota
	// ChangePut: the entry was written.
	ChangePut
	// ChangeDeleted: the entry was deleted.
	ChangeDeleted
	// ChangeExpired: a sweep removed the entry because it expired.
	ChangeExpired
)

// Change is one change another instance made, as a DetailedChangeFeed
// reports it. An empty Collection means changes may have been missed.
type Change struct {
	Collection, Key string
	Kind            ChangeKind
}

// DetailedChangeFeed is a ChangeFeed that tells what each change was; the
// kind travels with the announcement (e.g. a marker in the Redis or
// PostgreSQL message), so that an instance watching a collection can send
// "expire" rather than "delete" for an entry another instance's sweep
// removed. ChangeHub implements it: a provider delivers with DeliverChange
// and forwards ChangeDetails to its hub.
type DetailedChangeFeed interface {
	ChangeFeed
	// ChangeDetails registers fn, called like a Changes function with the
	// kind of each change. A feed that cannot tell some kinds apart reports
	// them as ChangeWritten.
	ChangeDetails(fn func(Change))
}
