package fsdb

import (
	"encoding/base32"
	"strings"

	"github.com/navius-dev/navius/providers"
)

// File names: "c-" or "k-" followed by the collection's or key's bytes in
// lower-case base32hex without padding. The alphabet (0-9, a-v) is safe on
// every file system, never folds under case-insensitive ones, and keeps
// byte order: names sort exactly like the strings they encode, so a sorted
// directory listing is a key-ordered walk.
const (
	collectionPrefix = "c-"
	keyPrefix        = "k-"
	// tmpPrefix starts temporary files; '.' sorts before any encoded name
	// and never starts one.
	tmpPrefix = ".tmp-"
)

// MaxNameBytes bounds a key or a collection name: its encoded file name
// (8 characters per 5 bytes, plus the prefix) stays within the 255 bytes
// file systems allow. Longer names are refused with ErrInvalid.
const MaxNameBytes = 150

var nameEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

func encodeName(prefix, name string) (string, error) {
	if len(name) > MaxNameBytes {
		what := "key"
		if prefix == collectionPrefix {
			what = "collection name"
		}
		return "", providers.Invalid("fsdb: a %s of %d bytes is over the %d-byte limit of one file name per key: use a shorter one", what, len(name), MaxNameBytes)
	}
	return prefix + nameEncoding.EncodeToString([]byte(name)), nil
}

// decodeName reverses encodeName; ok is false for files that are not ours
// (temporary files, strays).
func decodeName(prefix, file string) (string, bool) {
	enc, ok := strings.CutPrefix(file, prefix)
	if !ok {
		return "", false
	}
	b, err := nameEncoding.DecodeString(enc)
	if err != nil || nameEncoding.EncodeToString(b) != enc {
		return "", false
	}
	return string(b), true
}
