package dynatrace

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// checkLine validates one line of the Metrics API v2 line protocol as
// documented (shared/PROTOCOLS.md, Dynatrace's "Metric ingestion protocol"),
// independently of the library that builds the lines:
//
//	key[,dim=value...] payload [timestamp]
//
// key: dot-separated sections of [A-Za-z0-9_-], not starting with a digit
// or hyphen, at most 250 characters, "dt." reserved. At most 50 dimensions;
// dimension keys lower-case [a-z0-9._:-]; values unquoted with \ escaping
// space, comma, equals, quote and backslash, or quoted. Payload: gauge,N or
// gauge,min=N,max=N,sum=N,count=N or count,delta=N. Timestamp: UTC
// milliseconds, at most an hour old and ten minutes ahead.
func checkLine(line string, now time.Time) error {
	if strings.ContainsAny(line, "\n\r") {
		return fmt.Errorf("line contains a line break")
	}
	head, rest, ok := cutUnescaped(line)
	if !ok {
		return fmt.Errorf("no payload")
	}
	key, dims, err := splitDims(head)
	if err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if len(dims) > 50 {
		return fmt.Errorf("%d dimensions, at most 50", len(dims))
	}
	seen := map[string]bool{}
	for _, d := range dims {
		k, v, ok := strings.Cut(d, "=")
		if !ok {
			return fmt.Errorf("dimension %q has no '='", d)
		}
		if !dimKeyRE.MatchString(k) || len(k) > 100 {
			return fmt.Errorf("dimension key %q is invalid", k)
		}
		if seen[k] {
			return fmt.Errorf("dimension key %q repeats", k)
		}
		seen[k] = true
		if err := checkDimValue(v); err != nil {
			return fmt.Errorf("dimension %s: %v", k, err)
		}
	}
	payload, ts, _ := strings.Cut(rest, " ")
	if err := checkPayload(payload); err != nil {
		return err
	}
	if ts != "" {
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || !digitsRE.MatchString(ts) {
			return fmt.Errorf("timestamp %q is not UTC milliseconds", ts)
		}
		t := time.UnixMilli(ms)
		if t.Before(now.Add(-time.Hour)) || t.After(now.Add(10*time.Minute)) {
			return fmt.Errorf("timestamp %s is out of range", t.UTC())
		}
	}
	return nil
}

var (
	sectionRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	dimKeyRE  = regexp.MustCompile(`^[a-z_][a-z0-9._:-]*$`)
	digitsRE  = regexp.MustCompile(`^[0-9]+$`)
	numberRE  = regexp.MustCompile(`^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	intRE     = regexp.MustCompile(`^[0-9]+$`)
)

func checkKey(key string) error {
	if key == "" || len(key) > 250 {
		return fmt.Errorf("metric key %q: empty or longer than 250", key)
	}
	if strings.HasPrefix(key, "dt.") {
		return fmt.Errorf("metric key %q uses the reserved dt. prefix", key)
	}
	if c := key[0]; (c >= '0' && c <= '9') || c == '-' {
		return fmt.Errorf("metric key %q starts with a digit or hyphen", key)
	}
	for _, s := range strings.Split(key, ".") {
		if !sectionRE.MatchString(s) {
			return fmt.Errorf("metric key %q has an invalid section %q", key, s)
		}
	}
	return nil
}

// separators returns where sep stands in s neither escaped nor inside
// quotes, and whether s leaves a quote open.
func separators(s string, sep byte) (at []int, open bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			open = !open
		case c == sep && !open:
			at = append(at, i)
		}
	}
	return at, open
}

// cutUnescaped splits at the first space that is neither escaped nor inside
// quotes.
func cutUnescaped(s string) (string, string, bool) {
	at, _ := separators(s, ' ')
	if len(at) == 0 {
		return s, "", false
	}
	return s[:at[0]], s[at[0]+1:], true
}

// splitDims splits "key,a=1,b=2" at unescaped commas outside quotes.
func splitDims(s string) (string, []string, error) {
	at, open := separators(s, ',')
	if open {
		return "", nil, fmt.Errorf("unterminated quote")
	}
	var parts []string
	start := 0
	for _, i := range at {
		parts = append(parts, s[start:i])
		start = i + 1
	}
	parts = append(parts, s[start:])
	return parts[0], parts[1:], nil
}

func checkDimValue(v string) error {
	if strings.HasPrefix(v, `"`) {
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return fmt.Errorf("bad quoting in %q", v)
		}
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '\\' {
				i++
			} else if inner[i] == '"' {
				return fmt.Errorf("unescaped quote in %q", v)
			}
		}
		v = inner
	} else {
		for i := 0; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 >= len(v) || !strings.ContainsRune(` ,="\`, rune(v[i+1])) {
					return fmt.Errorf("bad escape in %q", v)
				}
				i++
			case ' ', ',', '=', '"':
				return fmt.Errorf("unescaped %q in %q", v[i], v)
			}
		}
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			i++
		}
		n++
	}
	if n > 250 {
		return fmt.Errorf("value longer than 250 characters")
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("control character in %q", v)
		}
	}
	return nil
}

func checkPayload(p string) error {
	typ, args, ok := strings.Cut(p, ",")
	if !ok {
		return fmt.Errorf("payload %q has no type", p)
	}
	switch typ {
	case "gauge":
		if numberRE.MatchString(args) {
			return nil
		}
		f := map[string]string{}
		for _, kv := range strings.Split(args, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || f[k] != "" {
				return fmt.Errorf("gauge payload %q is malformed", p)
			}
			f[k] = v
		}
		if len(f) != 4 || !numberRE.MatchString(f["min"]) || !numberRE.MatchString(f["max"]) ||
			!numberRE.MatchString(f["sum"]) || !intRE.MatchString(f["count"]) {
			return fmt.Errorf("gauge payload %q: want gauge,N or gauge,min=N,max=N,sum=N,count=N", p)
		}
		lo, _ := strconv.ParseFloat(f["min"], 64)
		hi, _ := strconv.ParseFloat(f["max"], 64)
		if lo > hi {
			return fmt.Errorf("gauge payload %q: min above max", p)
		}
		return nil
	case "count":
		d, ok := strings.CutPrefix(args, "delta=")
		if !ok || !numberRE.MatchString(d) {
			return fmt.Errorf("count payload %q: want count,delta=N", p)
		}
		return nil
	}
	return fmt.Errorf("payload type %q is neither gauge nor count", typ)
}
