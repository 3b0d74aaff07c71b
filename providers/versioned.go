package providers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// The optional capabilities of a database, beyond Database. Like
// database/sql's optional driver interfaces, a provider implements the ones
// its backend can do safely; navius asks for them with a type assertion (see
// CapabilitiesOf) and answers requests that need a missing one with 501,
// never emulating it. providertest has a conformance suite for each.
//
//   - Versioned ("conditional"): every entry carries a version that changes
//     on every write, and writes can be made conditional on it (If-Match,
//     If-None-Match: * in HTTP).
//   - Expiring ("expiry"): writes take a time to live.
//   - Batcher ("batch"): several writes applied all or nothing.
const (
	CapConditional = "conditional"
	CapExpiry      = "expiry"
	CapBatch       = "batch"
)

// Versioned is the conditional-writes capability.
//
// A version is an opaque, non-empty string of the characters an HTTP
// entity-tag may hold ('!' and '#' to '~': no space, no '"'), at most 64
// bytes. A key's version changes on every successful write and is never
// reused for that key, across deletes and re-creation included (a random
// 64-bit token, as NewVersion makes, or a counter that never goes back).
// Entries written before the provider kept versions may all share one
// version (LegacyVersion).
//
// An entry that has expired (Expiring) does not exist for any method here:
// GetEntry fails with ErrNotFound, a condition sees no entry.
type Versioned interface {
	Database
	// GetEntry returns the entry with its version (and expiry time, when
	// it has one), or an error wrapping ErrNotFound.
	GetEntry(ctx context.Context, collection, key string) (Entry, error)
	// Put stores value when w.Condition holds and returns the new version.
	// When it does not hold, Put writes nothing and returns a
	// *PreconditionError (errors.Is(err, ErrPrecondition)). A positive
	// w.TTL is honoured only by providers that implement Expiring; navius
	// never passes one to others. A Put without TTL clears any expiry the
	// entry had.
	Put(ctx context.Context, collection, key string, value []byte, w Write) (string, error)
	// Remove deletes the key when cond holds and reports whether it
	// existed; a failed condition is a *PreconditionError, as for Put.
	Remove(ctx context.Context, collection, key string, cond Condition) (bool, error)
}

// Expiring is the per-key expiry capability: Put (and Apply) honour
// Write.TTL. An expired entry is gone for every reader at once (Get, Query,
// conditions), on every instance sharing the backend: the provider decides
// expiry by one clock (the server's, for a networked backend). Storage is
// reclaimed by Sweep, which navius calls every database.sweep_interval.
// Expiry survives restarts and, where the backend replicates, failovers.
type Expiring interface {
	Versioned
	// Sweep removes up to limit expired entries and returns how many it
	// removed, for bounded work per pass; navius calls it again at once
	// while it returns limit. Entries it removes are announced like
	// deletes (ChangeFeed).
	Sweep(ctx context.Context, limit int) (int, error)
}

// Batcher is the atomic-batch capability.
type Batcher interface {
	Versioned
	// Apply applies ops all or nothing: when every condition holds, every
	// operation is applied and Apply returns one result per operation, in
	// order; otherwise nothing is written and the error is a
	// *PreconditionError whose Op is the index of the first failed
	// operation. Concurrent readers see all of the batch or none of it. A
	// batch the backend cannot apply atomically (keys on different Redis
	// Cluster nodes) fails with ErrNotAtomic before anything is written.
	// Two operations on one key are refused with ErrInvalid (navius refuses
	// them before).
	Apply(ctx context.Context, ops []BatchOp) ([]BatchResult, error)
}

// Entry is a stored value with its version.
type Entry struct {
	Value []byte
	// Version is the entry's version; empty from providers that are not
	// Versioned.
	Version string
	// ExpiresAt is when the entry expires; zero when it does not.
	ExpiresAt time.Time
}

// Write is how Put writes.
type Write struct {
	Condition
	// TTL, when positive, is the entry's time to live (Expiring providers
	// only); zero means no expiry.
	TTL time.Duration
}

// Condition is a write's precondition, RFC 9110 section 13's If-Match and
// If-None-Match: * decided by the database at the moment of the write. The
// zero Condition always holds.
type Condition struct {
	// Match, when non-empty, requires the entry to exist with one of
	// these versions (If-Match: "v1", "v2").
	Match []string
	// MustExist requires the entry to exist (If-Match: *).
	MustExist bool
	// MustNotExist requires the entry not to exist (If-None-Match: *).
	MustNotExist bool
}

// IsZero reports whether c always holds.
func (c Condition) IsZero() bool { return len(c.Match) == 0 && !c.MustExist && !c.MustNotExist }

// Holds reports whether c holds for an entry that exists with version, or
// does not exist.
func (c Condition) Holds(exists bool, version string) bool {
	switch {
	case c.MustNotExist && exists:
		return false
	case (c.MustExist || len(c.Match) > 0) && !exists:
		return false
	case len(c.Match) > 0:
		for _, m := range c.Match {
			if m == version {
				return true
			}
		}
		return false
	}
	return true
}

// BatchOp is one operation of a batch: a put, or a delete.
type BatchOp struct {
	Delete     bool
	Collection string
	Key        string
	// Value is the value of a put.
	Value []byte
	Condition
	// TTL of a put, as in Write.
	TTL time.Duration
}

// BatchResult is the outcome of one operation of an applied batch.
type BatchResult struct {
	// Version is the new version of a put.
	Version string
	// Existed tells whether a delete's key existed.
	Existed bool
}

var (
	// ErrPrecondition: a write's condition did not hold; nothing was
	// written. The error is a *PreconditionError.
	ErrPrecondition = errors.New("precondition failed")
	// ErrNotAtomic: the backend cannot apply this batch atomically (its
	// keys live on different nodes); nothing was written.
	ErrNotAtomic = errors.New("batch cannot be applied atomically")
	// ErrUnsupported: the provider lacks the capability a request needs.
	ErrUnsupported = errors.New("not supported")
)

// PreconditionError tells which condition failed and what the entry is now.
type PreconditionError struct {
	// Op is the index of the failed operation of a batch; 0 otherwise.
	Op int
	// Exists tells whether the entry exists, and Version is its version
	// then (empty when it does not exist).
	Exists  bool
	Version string
}

func (e *PreconditionError) Error() string {
	if e.Exists {
		return "precondition failed: the entry's version is " + e.Version
	}
	return "precondition failed: the entry does not exist"
}

func (e *PreconditionError) Is(target error) bool { return target == ErrPrecondition }

// Precondition is the error of a failed condition on an entry that exists
// with version (exists false: it does not exist).
func Precondition(exists bool, version string) error {
	if !exists {
		version = ""
	}
	return &PreconditionError{Exists: exists, Version: version}
}

// Unsupported is the error for a request that needs capability.
func Unsupported(provider, capability string) error {
	what := map[string]string{
		CapConditional: "conditional writes (If-Match, If-None-Match)",
		CapExpiry:      "per-key expiry (ttl)",
		CapBatch:       "atomic batches",
	}[capability]
	return fmt.Errorf("%w: the %s database provider does not implement the %q capability, %s; navius --features lists each provider's capabilities", ErrUnsupported, provider, capability, what)
}

// Capabilities tells which optional capabilities a database implements.
type Capabilities struct {
	Conditional, Expiry, Batch bool
}

// Names lists the capabilities, in a fixed order.
func (c Capabilities) Names() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{c.Conditional, CapConditional}, {c.Expiry, CapExpiry}, {c.Batch, CapBatch}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// CapabilitiesOf reports what db implements. A wrapper that forwards every
// capability method (navius's metrics decorator) reports its wrapped
// provider's by implementing CapabilityReporter.
func CapabilitiesOf(db Database) Capabilities {
	if r, ok := db.(CapabilityReporter); ok {
		return r.Capabilities()
	}
	_, v := db.(Versioned)
	_, e := db.(Expiring)
	_, b := db.(Batcher)
	return Capabilities{Conditional: v, Expiry: e, Batch: b}
}

// CapabilityReporter is implemented by wrappers whose methods exist whatever
// the wrapped provider implements.
type CapabilityReporter interface {
	Capabilities() Capabilities
}

// NewVersion returns a random version for an in-tree provider's
// 64-bit version field: never 0, which marks entries written before
// versions (LegacyVersion).
func NewVersion() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// LegacyVersion is the version of entries written before their provider
// kept versions: FormatVersion(0).
const LegacyVersion = "0000000000000000"

// FormatVersion is the version string of a 64-bit version: 16 hex digits.
func FormatVersion(v uint64) string {
	var b [16]byte
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

// ParseVersion reverses FormatVersion; ok is false for a string it never
// makes (which then matches no stored version).
func ParseVersion(s string) (v uint64, ok bool) {
	if len(s) != 16 || strings.ToLower(s) != s {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 64)
	return v, err == nil
}

// ValidVersion reports whether s may be a version: 1-64 bytes of the
// characters an entity-tag may hold, '!' and '#' to '~'.
func ValidVersion(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c == '"' || c > '~' {
			return false
		}
	}
	return true
}

// CheckBatch refuses what no provider applies: an empty batch, and two
// operations on one key.
func CheckBatch(ops []BatchOp) error {
	if len(ops) == 0 {
		return Invalid("an empty batch")
	}
	seen := make(map[[2]string]int, len(ops))
	for i, op := range ops {
		k := [2]string{op.Collection, op.Key}
		if j, dup := seen[k]; dup {
			return Invalid("operations %d and %d of the batch both write %s/%s: write each key once", j, i, op.Collection, op.Key)
		}
		seen[k] = i
	}
	return nil
}
