package providers

import (
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OptionType is the type of a config option's value.
type OptionType string

const (
	String   OptionType = "string"
	Int      OptionType = "int"
	Bool     OptionType = "bool"
	Duration OptionType = "duration" // Go duration: 500ms, 5s, 1m30s
	Bytes    OptionType = "bytes"    // 1048576, 512KiB, 64MiB, 1GB
	Enum     OptionType = "enum"     // one of Option.Enum
	URL      OptionType = "url"      // scheme://...
	List     OptionType = "list"     // comma separated; a YAML sequence in a file
	Address  OptionType = "address"  // host:port to listen on; :port for every interface
)

// Option declares one config option. Core and every provider declare their
// options; the same declarations drive validation, the NAVIUS_* environment
// names, the serve flags, the sample config and the generated reference.
type Option struct {
	// Key is the dotted YAML path, e.g. "database.url".
	Key  string
	Type OptionType
	// Default is the value when nothing sets the option.
	Default string
	// DefaultFunc, when set, computes the default instead, for defaults that
	// depend on what the binary carries; Default then describes it.
	DefaultFunc func() string
	Enum        []string
	Description string
	// Secret options are never printed: listings, docs and samples show a
	// placeholder, and URLs of this option have their password redacted.
	Secret bool
	// Env overrides the environment variable name; by default it is NAVIUS_
	// followed by the key in upper case with dots turned into underscores.
	Env string
	// Feature is the feature that declared the option ("core" for the core).
	Feature string
	// Min and Max bound an Int, Duration or Bytes option's value, both
	// included, written as its values are ("1ms", "1GiB"); empty for no
	// bound.
	Min, Max string
	// Bound marks an option that caps what a provider may hold or use
	// (memory.capacity): navius --features states its default beside the
	// feature, so that a binary tells its limits.
	Bound bool
}

// EnvName is the environment variable that sets the option.
func (o Option) EnvName() string {
	if o.Env != "" {
		return o.Env
	}
	return "NAVIUS_" + strings.ToUpper(replaceSeparators(o.Key, '_'))
}

// DefaultValue is the option's effective default.
func (o Option) DefaultValue() string {
	if o.DefaultFunc != nil {
		return o.DefaultFunc()
	}
	return o.Default
}

// FlagName is the serve flag that sets the option: the key with dots and
// underscores turned into dashes.
func (o Option) FlagName() string {
	return replaceSeparators(o.Key, '-')
}

// replaceSeparators turns the dots, dashes and underscores of key into sep
// (without a strings.Replacer, which is built anew for each call here, and
// these run for every option at every start).
func replaceSeparators(key string, sep rune) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' {
			return sep
		}
		return r
	}, key)
}

// Check validates a value against the option's type; the error says what is
// expected.
func (o Option) Check(value string) error {
	var err error
	switch o.Type {
	case Int:
		_, err = strconv.Atoi(value)
		if err != nil {
			err = fmt.Errorf("%q is not an integer", value)
		}
	case Bool:
		_, err = ParseBool(value)
	case Duration:
		_, err = ParseDuration(value)
	case Bytes:
		_, err = ParseBytes(value)
	case Enum:
		if !slices.Contains(o.Enum, value) {
			err = fmt.Errorf("%q is not one of %s", value, strings.Join(o.Enum, ", "))
		}
	case URL:
		if value != "" && value != "none" {
			_, err = Scheme(value)
		}
	case Address:
		if value != "" {
			err = CheckAddress(value)
		}
	}
	if err == nil {
		err = o.checkBounds(value)
	}
	return err
}

// checkBounds holds a value that passed its type check to Min and Max.
func (o Option) checkBounds(value string) error {
	if o.Min == "" && o.Max == "" {
		return nil
	}
	n, _ := o.number(value)
	lo, hasLo := o.number(o.Min)
	hi, hasHi := o.number(o.Max)
	if (!hasLo || n >= lo) && (!hasHi || n <= hi) {
		return nil
	}
	var want string
	switch {
	case hasLo && hasHi:
		want = "use " + o.Min + " to " + o.Max
	case hasLo:
		want = "use at least " + o.Min
	default:
		want = "use at most " + o.Max
	}
	if o.Type == Duration && n == 0 {
		want += "; 0 would mean no limit at all"
	}
	return fmt.Errorf("%q is out of range: %s", value, want)
}

// number reads an Int, Duration or Bytes value as a number to compare; ok
// is false for "" and for other types.
func (o Option) number(v string) (n int64, ok bool) {
	if v == "" {
		return 0, false
	}
	var err error
	switch o.Type {
	case Int:
		var i int
		i, err = strconv.Atoi(v)
		n = int64(i)
	case Duration:
		var d time.Duration
		d, err = ParseDuration(v)
		n = int64(d)
	case Bytes:
		n, err = ParseBytes(v)
	default:
		return 0, false
	}
	return n, err == nil
}

// CheckAddress accepts a host:port to listen on, as net.Listen takes it.
func CheckAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080, or :8080 for every interface)", addr)
	}
	return nil
}

var optionRegistry struct {
	sync.RWMutex
	byKey map[string]Option
}

// DeclareOptions registers a feature's options; it panics on a duplicate key
// or a default that fails its own type check.
func DeclareOptions(feature string, opts ...Option) {
	optionRegistry.Lock()
	defer optionRegistry.Unlock()
	if optionRegistry.byKey == nil {
		optionRegistry.byKey = map[string]Option{}
	}
	for _, o := range opts {
		o.Feature = feature
		if prev, dup := optionRegistry.byKey[o.Key]; dup {
			panic(fmt.Sprintf("option %q declared by %s and %s", o.Key, prev.Feature, feature))
		}
		for _, bound := range []string{o.Min, o.Max} {
			if _, ok := o.number(bound); bound != "" && !ok {
				panic(fmt.Sprintf("option %q: bound %q is not a %s value", o.Key, bound, o.Type))
			}
		}
		if o.Default != "" && o.DefaultFunc == nil {
			if err := o.Check(o.Default); err != nil {
				panic(fmt.Sprintf("option %q: default %v", o.Key, err))
			}
		}
		optionRegistry.byKey[o.Key] = o
	}
}

// Options returns every declared option sorted by key.
func Options() []Option {
	optionRegistry.RLock()
	defer optionRegistry.RUnlock()
	return sortedValues(optionRegistry.byKey)
}

// sortedValues is m's values in the order of their keys: a registry's
// listing. (slices.SortedFunc on the values would compile a sort for each
// value type, 30 KiB apiece; sorting the keys uses the string sort every
// build has.)
func sortedValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// LookupOption returns the declared option with key.
func LookupOption(key string) (Option, bool) {
	optionRegistry.RLock()
	defer optionRegistry.RUnlock()
	o, ok := optionRegistry.byKey[key]
	return o, ok
}

// Settings holds resolved option values by key, defaults included. Values
// were checked against their declarations when the config was loaded, so the
// typed getters return the zero value only for keys that are not declared.
type Settings map[string]string

func (s Settings) String(key string) string { return s[key] }

func (s Settings) Int(key string) int {
	n, _ := strconv.Atoi(s[key])
	return n
}

func (s Settings) Bool(key string) bool {
	b, _ := ParseBool(s[key])
	return b
}

func (s Settings) Duration(key string) time.Duration {
	d, _ := ParseDuration(s[key])
	return d
}

func (s Settings) Bytes(key string) int64 {
	n, _ := ParseBytes(s[key])
	return n
}

// ParseBool accepts true/false, yes/no, on/off and 1/0.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true or false)", v)
}

// ParseDuration is time.ParseDuration that also takes a bare 0 and rejects
// negative values.
func ParseDuration(v string) (time.Duration, error) {
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (e.g. 500ms, 5s, 2m)", v)
	}
	return d, nil
}

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
}

// ParseBytes parses a size such as 1048576, 512KiB, 64MiB or 1GB (KB, MB and
// GB are powers of 1000; K, KiB, M, MiB, G and GiB powers of 1024).
func ParseBytes(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := byteUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || f*mult > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 512KiB, 64MiB, 1GB)", v)
	}
	return int64(f * mult), nil
}

// A SettingsCheck validates what a feature's option types cannot check alone
// (a value that needs another, a URL's form): it is the part of opening a
// provider that depends on configuration only, so that navius config check
// can run it without opening anything. Errors wrap ErrInvalid.
//
// A provider's check goes with its registration (RegisterDatabase,
// RegisterObserver, LogSinkProvider.Check), so that it runs when, and only
// when, the provider would be opened; DeclareCheck is for a feature's
// checks that belong to no provider.
type SettingsCheck func(Settings) error

var settingsChecks struct {
	sync.RWMutex
	byFeature map[string][]SettingsCheck
}

// DeclareCheck registers a feature's settings check; gate files call it
// next to DeclareOptions.
func DeclareCheck(feature string, check SettingsCheck) {
	settingsChecks.Lock()
	defer settingsChecks.Unlock()
	if settingsChecks.byFeature == nil {
		settingsChecks.byFeature = map[string][]SettingsCheck{}
	}
	settingsChecks.byFeature[feature] = append(settingsChecks.byFeature[feature], check)
}

// CheckSettings runs every declared settings check, by feature name, and
// returns each problem found.
func CheckSettings(s Settings) []error {
	settingsChecks.RLock()
	defer settingsChecks.RUnlock()
	features := make([]string, 0, len(settingsChecks.byFeature))
	for f := range settingsChecks.byFeature {
		features = append(features, f)
	}
	sort.Strings(features)
	var errs []error
	for _, f := range features {
		for _, check := range settingsChecks.byFeature[f] {
			if err := check(s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}
