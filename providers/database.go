package providers

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"reflect"
	"time"
)

// Database is the contract every database provider implements. Collections
// are namespaces of keys; a collection exists as long as it holds a key.
// Values are opaque bytes. All methods are safe for concurrent use.
type Database interface {
	// Get returns the value stored under key, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, collection, key string) ([]byte, error)
	// Set stores value under key. When Set returns nil the write is durable
	// to the degree the backend promises (committed for bolt).
	Set(ctx context.Context, collection, key string, value []byte) error
	// Delete removes key and reports whether it existed.
	Delete(ctx context.Context, collection, key string) (bool, error)
	// Query returns one page of the collection's entries whose value
	// contains q.Filter (never an expired one, for Expiring providers). A
	// scan checks ctx as it goes, so a deadline or a client that went away
	// ends it. Walking pages by NextCursor until it is empty
	// returns every entry that existed for the whole walk exactly once.
	Query(ctx context.Context, collection string, q Query) (Page, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases the backend; later calls fail with ErrClosed.
	Close() error
}

// Query selects a page of a collection.
type Query struct {
	// Filter keeps entries whose value contains it; empty keeps all.
	Filter string
	// Limit is the most entries in the page; 0 means DefaultLimit. Providers
	// clamp it to MaxLimit.
	Limit int
	// Cursor is the NextCursor of the previous page, or empty for the first.
	// It is opaque: a malformed one fails with ErrInvalid.
	Cursor string
	// MaxBytes, when positive, bounds the page by the bytes of its keys and
	// values: the page ends early, with a NextCursor, before the item that
	// would pass it, but always carries at least one item.
	MaxBytes int64
}

// Paging bounds.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// EffectiveLimit applies the default and the maximum to a requested limit.
func (q Query) EffectiveLimit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// Page is one page of a query.
type Page struct {
	Items []Item
	// NextCursor continues the walk; empty when there is nothing more.
	NextCursor string
}

// Item is one entry of a collection.
type Item struct {
	Key   string
	Value []byte
	// Version is the entry's version, from Versioned providers.
	Version string
}

// DatabaseConfig configures a database provider (the seed's DatabaseConfig).
type DatabaseConfig struct {
	// Provider names the provider explicitly; empty picks it by URL scheme.
	Provider string
	// URL locates the database, e.g. "memory://", "bolt://./data/navius.db".
	URL string
	// MaxConnections bounds a networked provider's connection pool.
	MaxConnections int
	// Timeout bounds connecting and each operation.
	Timeout time.Duration
	// TLS configures encrypted connections for networked providers.
	TLS TLSConfig
	// Settings holds every configured option (provider-specific ones are
	// under the provider's section, e.g. "redis.password").
	Settings Settings
}

// TLSConfig configures TLS for a networked provider. Certificates are
// verified unless InsecureSkipVerify is set.
type TLSConfig struct {
	Enabled            bool
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// Databases is the database provider registry.
var Databases = NewRegistry[DatabaseConfig, Database]("database")

// RegisterDatabase registers a database provider under name and URL
// schemes, with its check: what opening it would refuse in cfg (the URL's
// form, the provider's options and their conflicts with other settings),
// found without connecting or creating anything; errors wrap ErrInvalid.
// navius config check runs the check, and OpenDatabase runs it before
// open. The check is optional only for providers written before it
// existed.
//
// An open function that returns its concrete type (e.g. *bolt.Database)
// lets navius tell the provider's type and optional capabilities before
// opening it (navius --features, the verified build); one that returns
// Database works the same, its capabilities known once opened.
func RegisterDatabase[D Database](name string, schemes []string, open func(context.Context, DatabaseConfig) (D, error), check ...func(DatabaseConfig) error) {
	if open == nil {
		panic(fmt.Sprintf("database: Register %q with a nil open function", name))
	}
	Databases.Register(name, schemes, func(ctx context.Context, cfg DatabaseConfig) (Database, error) {
		d, err := open(ctx, cfg)
		if err != nil {
			return nil, err // never a typed nil in a non-nil interface
		}
		return d, nil
	}, check...)
	Databases.setType(name, reflect.TypeFor[D]())
}

// CheckDatabase runs the check of the provider that cfg names (or whose URL
// scheme it uses), opening nothing, and returns the provider's name.
func CheckDatabase(cfg DatabaseConfig) (string, error) {
	return Databases.Check(cfg.Provider, cfg.URL, cfg)
}

// DatabaseType returns the type the named provider's open function
// returns (nil when it returns the Database interface, or for an unknown
// name) and, for a concrete type, the capabilities that type implements.
func DatabaseType(name string) (reflect.Type, Capabilities, bool) {
	t := Databases.typeOf(name)
	if t == nil || t.Kind() == reflect.Interface {
		return t, Capabilities{}, false
	}
	is := func(i reflect.Type) bool { return t.Implements(i) }
	v := is(reflect.TypeFor[Versioned]())
	return t, Capabilities{Conditional: v, Expiry: v && is(reflect.TypeFor[Expiring]()), Batch: v && is(reflect.TypeFor[Batcher]())}, true
}

// OpenDatabase opens the provider that cfg names (or whose URL scheme it
// uses), after its check, and returns it with the provider's name.
func OpenDatabase(ctx context.Context, cfg DatabaseConfig) (Database, string, error) {
	return Databases.Open(ctx, cfg.Provider, cfg.URL, cfg)
}

// EncodeKeyCursor makes an opaque cursor from the last key of a page, for
// providers that walk a collection in key order: the key and a checksum of
// it, so that DecodeKeyCursor tells a cursor it made from a forged or
// mangled one. (The checksum is not a secret: a cursor only says where a
// walk resumes, which any reader may choose.)
func EncodeKeyCursor(lastKey string) string {
	b := make([]byte, 0, len(lastKey)+crc32.Size)
	b = append(b, lastKey...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE([]byte(lastKey)))
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeKeyCursor reverses EncodeKeyCursor; an empty cursor decodes to "".
// A cursor EncodeKeyCursor did not make fails with ErrInvalid.
func DecodeKeyCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	n := len(b) - crc32.Size
	if err != nil || n < 1 || crc32.ChecksumIEEE(b[:n]) != binary.BigEndian.Uint32(b[n:]) {
		return "", Invalid("malformed cursor %.40q: pass back the next_cursor of the previous page", cursor)
	}
	return string(b[:n]), nil
}

// ChangeFeed is implemented by database providers that several navius
// instances share (Redis): it tells an instance about writes made through
// the others, so that its local cache drops their entries.
type ChangeFeed interface {
	// Changes registers fn, called with the collection and key of every
	// write or delete made through another instance. An empty collection
	// means changes may have been missed (the feed was down): everything
	// cached is suspect.
	Changes(fn func(collection, key string))
	// Live reports whether changes are being delivered right now.
	Live() bool
	// FallbackTTL bounds how long a local cache may keep an entry while
	// the feed is not live.
	FallbackTTL() time.Duration
}
