package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Conditional requests (RFC 9110 section 13). An entry's ETag is its
// version in quotes, always strong. A write's precondition goes to the
// database, which decides it atomically with the write; a weak ETag never
// matches a write.

// etag is one entity-tag of an If-Match or If-None-Match list.
type etag struct {
	weak   bool
	opaque string // without the quotes
}

// etagList is a parsed If-Match or If-None-Match field: "*" or a list.
type etagList struct {
	present bool
	any     bool // "*"
	tags    []etag
}

// quoteETag is the ETag field value of a version.
func quoteETag(version string) string { return `"` + version + `"` }

// parseETags parses every line of the field name (RFC 9110 section 8.8.3:
// "*" alone, or a comma-separated list of entity-tags, empty elements
// allowed; a tag's opaque part may hold commas).
func parseETags(h http.Header, name string) (etagList, error) {
	lines := h.Values(name)
	if len(lines) == 0 {
		return etagList{}, nil
	}
	l := etagList{present: true}
	for _, line := range lines {
		if err := l.parse(line); err != nil {
			return etagList{}, fmt.Errorf("%s %.80q is malformed: %v; send * or quoted ETags as the server sent them, e.g. %s: \"0a1b2c3d4e5f6789\"", name, line, err, name)
		}
	}
	if l.any && len(l.tags) > 0 {
		return etagList{}, fmt.Errorf("%s mixes * with ETags: send * alone, or the ETags", name)
	}
	if !l.any && len(l.tags) == 0 {
		return etagList{}, fmt.Errorf("%s is empty: send * or quoted ETags", name)
	}
	return l, nil
}

func (l *etagList) parse(s string) error {
	for {
		s = strings.TrimLeft(s, " \t")
		switch {
		case s == "":
			return nil
		case s[0] == ',':
			s = s[1:]
			continue
		case s[0] == '*':
			l.any = true
			s = s[1:]
		default:
			var t etag
			if strings.HasPrefix(s, "W/") {
				t.weak, s = true, s[2:]
			}
			if s == "" || s[0] != '"' {
				return errors.New("an ETag must be in double quotes")
			}
			end := 1
			for end < len(s) && s[end] != '"' {
				if c := s[end]; c < 0x21 || c == 0x7f {
					return errors.New("an ETag holds a space or a control character")
				}
				end++
			}
			if end == len(s) {
				return errors.New("an ETag lacks its closing quote")
			}
			t.opaque, s = s[1:end], s[end+1:]
			l.tags = append(l.tags, t)
		}
		s = strings.TrimLeft(s, " \t")
		if s != "" && s[0] != ',' {
			return errors.New("ETags must be separated by commas")
		}
	}
}

// matchStrong reports whether the list matches an entry that exists with
// version, by the strong comparison writes and If-Match use: a weak tag
// matches nothing.
func (l etagList) matchStrong(exists bool, version string) bool {
	return l.match(exists, version, true)
}

// matchWeak is If-None-Match's weak comparison: a weak tag matches as a
// strong one does.
func (l etagList) matchWeak(exists bool, version string) bool {
	return l.match(exists, version, false)
}

// match is matchStrong when strong is set, else matchWeak.
func (l etagList) match(exists bool, version string, strong bool) bool {
	if !exists {
		return false
	}
	if l.any {
		return true
	}
	for _, t := range l.tags {
		if t.opaque == version && !(strong && t.weak) {
			return true
		}
	}
	return false
}

// writeCondition turns a write's If-Match and If-None-Match into the
// condition the database decides.
func writeCondition(h http.Header) (providers.Condition, error) {
	im, err := parseETags(h, "If-Match")
	if err != nil {
		return providers.Condition{}, err
	}
	inm, err := parseETags(h, "If-None-Match")
	if err != nil {
		return providers.Condition{}, err
	}
	return conditionOf(im, inm)
}

func conditionOf(im, inm etagList) (providers.Condition, error) {
	var c providers.Condition
	switch {
	case im.present && inm.present:
		return c, errors.New("If-Match and If-None-Match together: send If-Match to update a version you read, or If-None-Match: * to create only")
	case inm.present && !inm.any:
		return c, errors.New("If-None-Match on a write takes only *, which creates the key only when it does not exist; to update a version you read, send If-Match")
	case inm.present:
		c.MustNotExist = true
	case im.any:
		c.MustExist = true
	case im.present:
		for _, t := range im.tags {
			if !t.weak { // a weak ETag never matches a write
				c.Match = append(c.Match, t.opaque)
			}
		}
		if len(c.Match) == 0 {
			c.Match = []string{""} // only weak ETags: matches no version
		}
	}
	return c, nil
}

// parseTTL reads a ttl parameter: a positive Go duration up to max (0: no
// maximum).
func parseTTL(s string, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("ttl %.40q is not a duration: use a Go duration such as 30s, 15m or 24h", s)
	case d <= 0:
		return 0, fmt.Errorf("ttl %.40q is not positive: give a time to live such as 30s, or leave ttl out for no expiry", s)
	case max > 0 && d > max:
		return 0, fmt.Errorf("ttl %s is above the server's maximum of %s (database.max_ttl)", d, max)
	}
	return d, nil
}

// preconditionFailed answers 412 for a write whose condition was cond,
// with the entry's current ETag when it exists.
func preconditionFailed(w http.ResponseWriter, r *http.Request, pe *providers.PreconditionError, cond providers.Condition) {
	if pe.Exists && pe.Version != "" {
		w.Header().Set("ETag", quoteETag(pe.Version))
	}
	writeError(w, r, http.StatusPreconditionFailed, "precondition_failed", preconditionMessage(pe, cond))
}

func preconditionMessage(pe *providers.PreconditionError, cond providers.Condition) string {
	switch {
	case pe.Exists && cond.MustNotExist:
		return "precondition failed: the key exists, and If-None-Match: * creates only; nothing was written"
	case pe.Exists:
		return "precondition failed: the key's current ETag is " + quoteETag(pe.Version) + "; nothing was written: read the key again and retry with If-Match: " + quoteETag(pe.Version)
	}
	return "precondition failed: the key does not exist, and If-Match needs an existing entry; nothing was written"
}
