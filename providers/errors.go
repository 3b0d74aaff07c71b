package providers

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotFound: the key (or collection) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the backend can't be reached or can't serve right now;
	// retrying later may succeed. Providers wrap their transport errors with it.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the request itself is bad (a malformed cursor, a name the
	// backend can't store); retrying won't help.
	ErrInvalid = errors.New("invalid argument")
	// ErrClosed: the provider was closed.
	ErrClosed = errors.New("closed")
	// ErrFull: the database has no room for the write (a capacity bound,
	// a full disk); nothing was written. Deleting entries makes room.
	ErrFull = errors.New("storage full")
)

// Unavailable wraps err so that errors.Is(err, ErrUnavailable) holds while the
// message keeps the cause.
func Unavailable(service string, err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &wrapped{kind: ErrUnavailable, msg: service + " unavailable: " + err.Error(), cause: err}
}

// Invalid builds an ErrInvalid with a message.
func Invalid(format string, args ...any) error {
	return &wrapped{kind: ErrInvalid, msg: fmt.Sprintf(format, args...)}
}

type wrapped struct {
	kind  error
	msg   string
	cause error
}

func (w *wrapped) Error() string   { return w.msg }
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.cause} }

// NoProviderError says that no registered provider matches a name or URL
// scheme, and what is compiled in instead.
type NoProviderError struct {
	Service    string   // "database", "cache", ...
	By         string   // "scheme" or "name"
	Value      string   // the scheme or name asked for
	CompiledIn []string // registered provider names, sorted
}

func (e *NoProviderError) Error() string {
	in := "none"
	if len(e.CompiledIn) > 0 {
		in = strings.Join(e.CompiledIn, ", ")
	}
	return fmt.Sprintf("%s: no provider for %s %q (compiled in: %s)", e.Service, e.By, e.Value, in)
}
