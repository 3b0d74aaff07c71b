package providers

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Registry maps provider names and URL schemes to the functions that open
// them, for one service. Registration happens in init() and panics on a
// duplicate, like database/sql's Register; lookups are deterministic.
//
// Each provider registers a check with its opener: the part of opening that
// depends on the configuration alone (the URL's form, the provider's
// options, their conflicts with other settings), run without opening
// anything, as Caddy's Validate is. navius config check runs it, and Open
// runs it before the opener, so that the two cannot disagree.
type Registry[C, T any] struct {
	service string
	mu      sync.RWMutex
	opens   map[string]func(context.Context, C) (T, error)
	checks  map[string]func(C) error
	schemes map[string]string       // URL scheme -> provider name
	types   map[string]reflect.Type // provider name -> what its open returns, when told
}

// NewRegistry returns an empty registry for service (used in messages).
func NewRegistry[C, T any](service string) *Registry[C, T] {
	return &Registry[C, T]{
		service: service,
		opens:   map[string]func(context.Context, C) (T, error){},
		checks:  map[string]func(C) error{},
		schemes: map[string]string{},
		types:   map[string]reflect.Type{},
	}
}

func (r *Registry[C, T]) setType(name string, t reflect.Type) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types[name] = t
}

func (r *Registry[C, T]) typeOf(name string) reflect.Type {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.types[name]
}

// Register adds a provider under name, reachable also by each URL scheme,
// with its check. The check is optional for compatibility with providers
// written before it existed (their URL is then only resolved, not checked,
// before they open); every provider of navius's tree passes one.
func (r *Registry[C, T]) Register(name string, schemes []string, open func(context.Context, C) (T, error), check ...func(C) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if open == nil {
		panic(fmt.Sprintf("%s: Register %q with a nil open function", r.service, name))
	}
	if len(check) > 1 || len(check) == 1 && check[0] == nil {
		panic(fmt.Sprintf("%s: Register %q takes one non-nil check", r.service, name))
	}
	if _, dup := r.opens[name]; dup {
		panic(fmt.Sprintf("%s: Register called twice for provider %q", r.service, name))
	}
	for _, s := range schemes {
		if other, dup := r.schemes[s]; dup {
			panic(fmt.Sprintf("%s: scheme %q of provider %q is already registered by %q", r.service, s, name, other))
		}
	}
	r.opens[name] = open
	if len(check) == 1 {
		r.checks[name] = check[0]
	}
	for _, s := range schemes {
		r.schemes[s] = name
	}
}

// Names returns the registered provider names, sorted.
func (r *Registry[C, T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.opens))
	for n := range r.opens {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Schemes returns the URL schemes registered for the provider name, sorted.
func (r *Registry[C, T]) Schemes(name string) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for s, n := range r.schemes {
		if n == name {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Resolve finds the provider for an explicit name or, when name is empty, for
// rawURL's scheme. It returns the provider name.
func (r *Registry[C, T]) Resolve(name, rawURL string) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if name != "" {
		if _, ok := r.opens[name]; ok {
			return name, nil
		}
		return "", r.missing("name", name)
	}
	scheme, err := Scheme(rawURL)
	if err != nil {
		return "", fmt.Errorf("%s: %w", r.service, err)
	}
	if n, ok := r.schemes[scheme]; ok {
		return n, nil
	}
	return "", r.missing("scheme", scheme)
}

// Check resolves the provider and runs its check on cfg, opening nothing.
// It returns the provider name.
func (r *Registry[C, T]) Check(name, rawURL string, cfg C) (string, error) {
	n, err := r.Resolve(name, rawURL)
	if err != nil {
		return "", err
	}
	r.mu.RLock()
	check := r.checks[n]
	r.mu.RUnlock()
	if check != nil {
		if err := check(cfg); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Open resolves the provider, runs its check and opens it with cfg.
func (r *Registry[C, T]) Open(ctx context.Context, name, rawURL string, cfg C) (T, string, error) {
	var zero T
	n, err := r.Check(name, rawURL, cfg)
	if err != nil {
		return zero, n, err
	}
	r.mu.RLock()
	open := r.opens[n]
	r.mu.RUnlock()
	t, err := open(ctx, cfg)
	return t, n, err
}

// Unchecked returns the names of the providers registered without a check,
// sorted (navius's tests require none among its own).
func (r *Registry[C, T]) Unchecked() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for n := range r.opens {
		if r.checks[n] == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// UncheckedProviders lists the registered providers of every service that
// have no check, as service:name (as features.json names them), sorted.
func UncheckedProviders() []string {
	var out []string
	add := func(service string, names []string) {
		for _, n := range names {
			out = append(out, service+":"+n)
		}
	}
	add("cache", Caches.Unchecked())
	add("database", Databases.Unchecked())
	for _, p := range LogSinkProviders() {
		if p.Check == nil {
			add("logging", []string{p.Name})
		}
	}
	add("observability", Observers.Unchecked())
	return out
}

func (r *Registry[C, T]) missing(by, value string) error {
	names := make([]string, 0, len(r.opens))
	for n := range r.opens {
		names = append(names, n)
	}
	sort.Strings(names)
	return &NoProviderError{Service: r.service, By: by, Value: value, CompiledIn: names}
}

// Scheme returns the lower-cased scheme of a provider URL such as
// "bolt:///var/lib/navius/data.db" or "memory://".
func Scheme(rawURL string) (string, error) {
	if rawURL == "" {
		return "", fmt.Errorf("no URL given (e.g. memory://)")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		if s, ok := hostListScheme(rawURL); ok {
			return s, nil
		}
		return "", fmt.Errorf("bad URL %q: %v", Redact(rawURL), unwrapURLError(err))
	}
	if u.Scheme == "" {
		return "", fmt.Errorf("URL %q has no scheme (e.g. memory:// or bolt://./data/navius.db)", Redact(rawURL))
	}
	return strings.ToLower(u.Scheme), nil
}

// hostListScheme returns the scheme of a URL whose authority is a list of
// hosts (redis+cluster://a:6379,b:6379), which net/url does not parse; the
// provider that owns the scheme parses the rest.
func hostListScheme(rawURL string) (string, bool) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if !ok || scheme == "" || !strings.Contains(rest, ",") {
		return "", false
	}
	for i, r := range scheme {
		letter := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		if !letter && (i == 0 || !('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "", false
		}
	}
	return strings.ToLower(scheme), true
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// Redact hides the password of a URL ("redis://user:secret@host" becomes
// "redis://user:xxxxx@host"), also one given as a password or sslpassword
// parameter (libpq's "postgres://host/db?password=secret" and its keyword
// form "host=db password=secret"), so that URLs can go into logs and
// errors. A value that does not parse as a URL ("postgres//u:secret@host",
// a host list) has whatever lies between the user name and the last "@"
// hidden all the same.
func Redact(rawURL string) string {
	return redactParams(redactUserinfo(rawURL))
}

func redactUserinfo(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err == nil && u.User != nil {
		if _, hasPassword := u.User.Password(); !hasPassword {
			return rawURL // nothing to hide; keep the URL exactly as written
		}
		return u.Redacted()
	}
	// Unparsable, or parsed as something else (a relative path, an opaque
	// URL): hide the password of any user information.
	at := strings.LastIndex(rawURL, "@")
	if at < 0 {
		return rawURL
	}
	start := 0
	if i := strings.Index(rawURL, "//"); i >= 0 && i < at {
		start = i + 2
	}
	user, _, hasPassword := strings.Cut(rawURL[start:at], ":")
	if !hasPassword {
		return rawURL
	}
	return rawURL[:start] + user + ":xxxxx" + rawURL[at:]
}

// passwordParam finds the value of a password or sslpassword parameter:
// in a URL's query (up to & or #) or in libpq's keyword form (up to a space,
// or a 'quoted value'). It is compiled at its first use, not at every start.
var passwordParam = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(^|[\s?&;])((?:ssl)?password)\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s&#;]*)`)
})

// redactParams hides the values of password parameters, leaving the rest
// as written.
func redactParams(s string) string {
	if !strings.Contains(strings.ToLower(s), "password") {
		return s
	}
	return passwordParam().ReplaceAllString(s, "${1}${2}=xxxxx")
}
