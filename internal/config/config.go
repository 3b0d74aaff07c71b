// Package config resolves navius's settings from, in rising precedence, the
// declared defaults, a YAML file, NAVIUS_* environment variables and flags.
// Every key must be declared (providers.DeclareOptions); unknown keys and bad
// values fail with the key, the source and, for YAML, the line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/suggest"
	"github.com/navius-dev/navius/providers"
)

// Sources are the inputs of Load besides the declared defaults.
type Sources struct {
	// File is a YAML config file; "" for none.
	File string
	// Environ is the environment as os.Environ returns it.
	Environ []string
	// Flags maps option keys to values given on the command line, with the
	// flag's spelling for messages.
	Flags []Flag
	// NotCompiled maps a config section to the feature that would declare it
	// when that feature is not in this binary (e.g. "redis" -> "redis"), so
	// that its keys get a "rebuild with" hint instead of "unknown key".
	NotCompiled map[string]string
	// Compiled are this binary's features: a rebuild hint keeps them.
	Compiled []string
}

// Flag is one option set on the command line.
type Flag struct {
	Key, Value, Name string
}

// Config is a resolved configuration.
type Config struct {
	// Settings holds a value for every declared option.
	Settings providers.Settings
	sources  map[string]string
	// Warnings are problems that did not stop loading, e.g. NAVIUS_*
	// variables that name no option of this binary.
	Warnings []string
	problems Errors
	src      Sources
}

// Source says where a key's value came from: "default", "file x.yaml line 3",
// "environment NAVIUS_X" or "flag --x".
func (c *Config) Source(key string) string { return c.sources[key] }

// Error is a config problem; the CLI maps it to exit code 2.
type Error struct{ Msg string }

func (e *Error) Error() string { return "config: " + e.Msg }

func errorf(format string, args ...any) *Error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Errors is every problem found in one configuration, each one line. It
// unwraps to its *Error values, so errors.As finds a config error in it.
type Errors []error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

func (e Errors) Unwrap() []error { return e }

// Err is nil for no problems, else the problems as one error.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Load resolves the configuration. It reports every problem it finds, not
// only the first, and still returns the configuration: a value that failed
// its check keeps the one of the source before it, so that further checks
// can run on the rest.
func Load(src Sources) (*Config, error) {
	c := &Config{Settings: providers.Settings{}, sources: map[string]string{}, src: src}
	for _, o := range providers.Options() {
		c.Settings[o.Key] = o.DefaultValue()
		c.sources[o.Key] = "default"
	}
	if src.File != "" {
		c.loadFile(src.File)
	}
	c.loadEnv(src.Environ)
	for _, f := range src.Flags {
		c.set(f.Key, f.Value, "flag --"+f.Name)
	}
	return c, c.problems.Err()
}

// problem records one problem found while loading.
func (c *Config) problem(err *Error) { c.problems = append(c.problems, err) }

func (c *Config) set(key, value, source string) {
	o, ok := providers.LookupOption(key)
	if !ok && c.turnsOffAbsent(key, value) {
		return
	}
	if !ok {
		c.problem(errorf("%s: %s", source, c.unknownKey(key)))
		return
	}
	if err := check(o, value); err != nil {
		c.problem(errorf("%s: %s: %v", source, key, err))
		return
	}
	if o.Secret && value != "" && strings.HasPrefix(source, "flag ") {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s sets the secret %s on the command line, where other users see it (ps, /proc) and so does /debug/pprof/cmdline: set %s in the environment instead",
			source, key, o.EnvName()))
	}
	c.Settings[key] = value
	c.sources[key] = source
}

// check is the option's check; a secret's value stays out of the message.
func check(o providers.Option, value string) error {
	err := o.Check(value)
	if err != nil && o.Secret {
		return fmt.Errorf("the value is not a valid %s (not shown: it is a secret)", o.Type)
	}
	return err
}

// notCompiledFeature is the feature left out of this binary that owns a
// config section, or "".
func (c *Config) notCompiledFeature(section string) string { return c.src.NotCompiled[section] }

// turnsOffAbsent reports whether key is "<feature>.enabled" set to false
// for a feature this binary lacks: what is absent is off already, so the
// key is taken without a word (navius build --from-config leaves such a
// feature out).
func (c *Config) turnsOffAbsent(key, value string) bool {
	section, rest, _ := strings.Cut(key, ".")
	on, err := providers.ParseBool(value)
	return rest == "enabled" && err == nil && !on && c.notCompiledFeature(section) != ""
}

// rebuild is the hint for a feature this binary lacks: its own features
// plus that one.
func (c *Config) rebuild(feature string) string {
	return "rebuild with " + buildinfo.Rebuild(c.src.Compiled, feature)
}

func (c *Config) unknownKey(key string) string {
	section, _, _ := strings.Cut(key, ".")
	if f := c.notCompiledFeature(section); f != "" {
		return fmt.Sprintf("key %q belongs to feature %s, which is not compiled into this binary; %s", key, f, c.rebuild(f))
	}
	var keys []string
	for _, o := range providers.Options() {
		keys = append(keys, o.Key)
	}
	msg := fmt.Sprintf("unknown key %q", key)
	if s := suggest.Closest(key, keys); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; navius config keys lists the valid ones"
}

func (c *Config) loadFile(path string) {
	root, err := readYAML(path)
	if err != nil {
		c.problem(err)
		return
	}
	if root != nil {
		walk(path, "", root, func(key string, line int, v *yaml.Node) bool {
			return c.entry(path, key, fmt.Sprintf("file %s line %d", path, line), v)
		}, c.problem)
	}
}

// readYAML parses a config file; nil for an empty one.
func readYAML(path string) (*yaml.Node, *Error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errorf("file %s does not exist", path)
		}
		return nil, errorf("read %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil // empty file
	} else if err != nil {
		return nil, errorf("file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// A second document (after ---) would be dropped without a word; an
	// empty one (a trailing ---) is harmless.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || len(next.Content) > 0 && !isNull(next.Content[0]) {
			return nil, errorf("file %s line %d: a second YAML document (after ---): navius reads one document per file; merge them, or remove the ---", path, max(next.Line, 1))
		}
	}
	if len(doc.Content) == 0 { // empty file
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errorf("file %s line %d: the top level must be a mapping of keys (e.g. \"listen: 127.0.0.1:8080\")", path, root.Line)
	}
	return root, nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// walk flattens nested mappings into dotted keys; "database: {url: x}" and
// "database.url: x" are the same key. It calls entry for each key with its
// value node (a mapping is walked into when entry says so) and reports a
// key that repeats to problem.
func walk(path, prefix string, m *yaml.Node, entry func(key string, line int, v *yaml.Node) (descend bool), problem func(*Error)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if prefix != "" {
			key = prefix + "." + key
		}
		if line, dup := seen[k.Value]; dup {
			problem(errorf("file %s line %d: key %q repeats the one on line %d", path, k.Line, key, line))
			continue
		}
		seen[k.Value] = k.Line
		if entry(key, k.Line, v) && v.Kind == yaml.MappingNode {
			walk(path, key, v, entry, problem)
		}
	}
}

// entry checks and sets one key of a config file.
func (c *Config) entry(path, key, where string, v *yaml.Node) bool {
	switch v.Kind {
	case yaml.MappingNode:
		if _, isOption := providers.LookupOption(key); isOption {
			c.problem(errorf("%s: %s takes a single value, not a mapping", where, key))
			return false
		}
		return true
	case yaml.ScalarNode:
		value := v.Value
		if v.Tag == "!!null" {
			if _, isOption := providers.LookupOption(key); !isOption && isSection(key) {
				return false // "auth:" with every entry commented out
			}
			value = ""
		}
		c.set(key, value, where)
	case yaml.SequenceNode:
		o, ok := providers.LookupOption(key)
		if !ok {
			c.problem(errorf("%s: %s", where, c.unknownKey(key)))
			return false
		}
		if o.Type != providers.List {
			c.problem(errorf("%s: %s takes a single value, not a list", where, key))
			return false
		}
		items := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode || strings.Contains(item.Value, ",") {
				c.problem(errorf("file %s line %d: %s: each list item must be a single value without commas", path, item.Line, key))
				return false
			}
			items = append(items, item.Value)
		}
		c.set(key, strings.Join(items, ","), where)
	default:
		c.problem(errorf("%s: %s takes a single value, not a list", where, key))
	}
	return false
}

// Entry is one key a config file sets, as FileEntries reads it, or one
// NAVIUS_* variable, as EnvEntries reads it.
type Entry struct {
	Key   string
	Value string // a list's items joined with commas
	Line  int    // in the file; 0 for a variable
	// Env is the variable, "" for a file's key.
	Env string
}

// FileEntries reads the keys a config file sets, flattened as Load reads
// them, without checking them against the declared options: navius build
// --from-config reads a config for features this binary may not carry.
func FileEntries(path string) ([]Entry, error) {
	root, err := readYAML(path)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, nil
	}
	var entries []Entry
	var problems Errors
	walk(path, "", root, func(key string, line int, v *yaml.Node) bool {
		switch v.Kind {
		case yaml.MappingNode:
			return true
		case yaml.SequenceNode:
			items := make([]string, 0, len(v.Content))
			for _, item := range v.Content {
				items = append(items, item.Value)
			}
			entries = append(entries, Entry{Key: key, Value: strings.Join(items, ","), Line: line})
		default:
			value := v.Value
			if v.Tag == "!!null" {
				value = ""
			}
			entries = append(entries, Entry{Key: key, Value: value, Line: line})
		}
		return false
	}, func(e *Error) { problems = append(problems, e) })
	return entries, problems.Err()
}

// isSection reports whether some declared option lies under key.
func isSection(key string) bool {
	for _, o := range providers.Options() {
		if strings.HasPrefix(o.Key, key+".") {
			return true
		}
	}
	return false
}

// envOptions maps the NAVIUS_* variable of each declared option to it.
func envOptions() map[string]providers.Option {
	byEnv := map[string]providers.Option{}
	for _, o := range providers.Options() {
		byEnv[o.EnvName()] = o
	}
	return byEnv
}

// EnvEntries reads the NAVIUS_* variables of environ as Load does, in
// their order: a variable that names an option declared in this binary is
// an entry for its key; any other has no Key (Load warns about it and
// ignores it; navius build --from-config places it by feature names).
func EnvEntries(environ []string) []Entry {
	byEnv := envOptions()
	var entries []Entry
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "NAVIUS_") {
			entries = append(entries, Entry{Key: byEnv[name].Key, Value: value, Env: name})
		}
	}
	return entries
}

// loadEnv applies NAVIUS_* variables that name a declared option and warns
// about the others: the environment is shared with other programs, and a
// variable meant for a feature this binary lacks should not stop it.
func (c *Config) loadEnv(environ []string) {
	var unknown []string
	off := map[string]bool{}
	for _, e := range EnvEntries(environ) {
		name := e.Env
		o, ok := providers.LookupOption(e.Key)
		if !ok {
			unknown = append(unknown, name)
			section, rest, _ := strings.Cut(strings.TrimPrefix(name, "NAVIUS_"), "_")
			off[name] = rest == "ENABLED" && c.turnsOffAbsent(strings.ToLower(section)+".enabled", e.Value)
			continue
		}
		if err := check(o, e.Value); err != nil {
			c.problem(errorf("environment %s: %s: %v", name, o.Key, err))
			continue
		}
		c.Settings[o.Key] = e.Value
		c.sources[o.Key] = "environment " + name
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		section := strings.ToLower(strings.SplitN(strings.TrimPrefix(name, "NAVIUS_"), "_", 2)[0])
		if off[name] {
			continue // turns off what is not compiled in: nothing to say
		}
		if f := c.notCompiledFeature(section); f != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("environment %s is ignored: feature %s is not compiled into this binary (%s)", name, f, c.rebuild(f)))
		} else {
			msg := fmt.Sprintf("environment %s names no config option; ignored", name)
			if s := suggest.Closest(name, slices.Sorted(maps.Keys(envOptions()))); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			c.Warnings = append(c.Warnings, msg)
		}
	}
}
