package providers

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Registry maps provider names and URL schemes to the functions that open
// them, for one service. Registration happens in init() and panics on a
// duplicate, like database/sql's Register; lookups are deterministic.
type Registry[C, T any] struct {
	service string
	mu      sync.RWMutex
	opens   map[string]func(context.Context, C) (T, error)
	schemes map[string]string       // URL scheme -> provider name
	types   map[string]reflect.Type // provider name -> what its open returns, when told
}

// NewRegistry returns an empty registry for service (used in messages).
func NewRegistry[C, T any](service string) *Registry[C, T] {
	return &Registry[C, T]{
		service: service,
		opens:   map[string]func(context.Context, C) (T, error){},
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

// Register adds a provider under name, reachable also by each URL scheme.
func (r *Registry[C, T]) Register(name string, schemes []string, open func(context.Context, C) (T, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if open == nil {
		panic(fmt.Sprintf("%s: Register %q with a nil open function", r.service, name))
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

// Open resolves the provider and opens it with cfg.
func (r *Registry[C, T]) Open(ctx context.Context, name, rawURL string, cfg C) (T, string, error) {
	n, err := r.Resolve(name, rawURL)
	if err != nil {
		var zero T
		return zero, "", err
	}
	r.mu.RLock()
	open := r.opens[n]
	r.mu.RUnlock()
	t, err := open(ctx, cfg)
	return t, n, err
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
// parameter (libpq's "postgres://host/db?password=secret"), so that URLs can
// go into logs and errors.
func Redact(rawURL string) string {
	return redactParams(redactUserinfo(rawURL))
}

func redactUserinfo(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Unparseable: hide anything between "//" and "@" to be safe.
		if i := strings.Index(rawURL, "://"); i >= 0 {
			if j := strings.LastIndex(rawURL, "@"); j > i {
				return rawURL[:i+3] + "xxxxx" + rawURL[j:]
			}
		}
		return rawURL
	}
	if _, hasPassword := u.User.Password(); !hasPassword {
		return rawURL // nothing to hide; keep the URL exactly as written
	}
	return u.Redacted()
}

// redactParams hides the values of password parameters, leaving the rest
// of the URL as written.
func redactParams(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 || !strings.Contains(strings.ToLower(s[q:]), "password=") {
		return s
	}
	params, frag := s[q+1:], ""
	if i := strings.IndexByte(params, '#'); i >= 0 {
		params, frag = params[:i], params[i:]
	}
	parts := strings.Split(params, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && (strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword")) {
			parts[i] = k + "=xxxxx"
		}
	}
	return s[:q+1] + strings.Join(parts, "&") + frag
}
