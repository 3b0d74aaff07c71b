// Package thirdparty reads what a provider module from outside navius's tree
// declares about itself, and checks it before navius builds it in:
//
//   - the feature file (FileName, at the module's root): the module's
//     features, with the fields of a features.json entry plus the Go package
//     to import and the name of its conformance test (Parse, LoadModule);
//   - whether those features fit next to navius's own and each other's
//     (Check, Merge);
//   - the verified build: running the module's conformance test with
//     `go test -json` against a given navius tree, and reading from its
//     events whether it passed, whether navius's conformance suites really
//     ran inside it, and which cases failed (Verify, Evaluate).
//
// Every error is one line naming the file (or module) and the fix.
//
// navius build --with and make build WITH=... go through it in this order
// (internal/build: LoadModules, VerifyModules, Plan.Run, CheckBinary):
//
//	w, err := thirdparty.ParseWith(arg)               // each --with MODULE[@VERSION][=DIR]
//	mod, err := thirdparty.LoadWith(ctx, w, "go", nil) // local dir, or go mod download; reads the feature file
//	err = thirdparty.Check(nav, mods)                 // clashes, requirements, two --with of one module
//	merged, err := thirdparty.Merge(nav, mods)        // one manifest for the resolver and the catalog
//	for each mod, each feat of mod.Features (unless --no-verify):
//		r, err := thirdparty.Verify(ctx, thirdparty.VerifyOptions{
//			Dir: mod.Dir, ModulePath: mod.Path, Package: feat.Package,
//			Test: feat.ConformanceTest, Suites: feat.Suites(), Navius: treeRoot})
//		// err: go could not run at all; r.Err(): refused, naming the failing case
//
// then builds with a temporary go.mod (-modfile) that requires each module
// (and replaces it with mod.Dir for the local form; go get against the copy
// pulls in the module's requirements) and an overlay file in package main
// that imports each feat.Package and records its feature, and runs the new
// binary once to check it.
package thirdparty

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/internal/suggest"
	"github.com/navius-dev/navius/providers"
)

// FileName is the feature file a provider module carries at its root.
const FileName = "navius-feature.json"

// Schema is the feature file format's version. Schema 2 added
// "conformance" (the URL template of a fresh instance of each database and
// cache, from which navius's harness opens the registered provider itself)
// and "durable"; a schema-1 file still builds, verified only by the
// module's own test, which --strict refuses.
const Schema = 2

// File is a parsed feature file:
//
//	{
//	  "schema": 2,
//	  "features": [{
//	    "name": "fsdb",
//	    "description": "Filesystem database: one file per key ...",
//	    "category": "storage",
//	    "provides": ["database:fsdb"],
//	    "schemes": ["database:fsdb"],
//	    "requires": [],
//	    "package": "example.com/navius-fsdb",
//	    "conformance": {"database": "fsdb://{dir}/data"},
//	    "durable": true,
//	    "conformance_test": "TestConformance"
//	  }]
//	}
type File struct {
	Schema   int       `json:"schema"`
	Features []Feature `json:"features"`
}

// Feature is one feature a module provides: a features.json entry's fields
// plus where its code is and how it is checked.
type Feature struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	// Provides lists "service:provider" pairs; service is one of database,
	// cache, logging, observability (the registries a module can join).
	Provides []string `json:"provides"`
	// Schemes lists the URL schemes its database and cache providers
	// register, as "service:scheme" (as features.json does): navius build
	// --from-config finds the feature by a config's URLs, and the built
	// binary must register exactly these.
	Schemes []string `json:"schemes"`
	// Requires names navius features or other modules' features.
	Requires []string `json:"requires"`
	// Options are the config options the package declares, under the
	// feature's own section ("<name>."). Optional, and best left out: the
	// package's providers.DeclareOptions is the one source, which the build
	// reads from the binary it builds. When the file lists them (nil: it
	// does not; [] lists none), the build holds the package to the list.
	Options []Option `json:"options,omitempty"`
	// Package is the import path whose init() registers the provider.
	Package string `json:"package"`
	// Conformance maps each service the feature provides to what a fresh
	// instance needs, from which navius's harness opens the registered
	// provider (schema 2): for a database or a cache a URL template
	// ({dir}: a new directory, {id}: a fresh token), for a log sink or an
	// observer the settings to open it with and the package's read-back
	// function.
	Conformance map[string]Instance `json:"conformance,omitempty"`
	// Durable declares that its database's acknowledged writes survive a
	// crash: the harness then requires the CrashDurable case (schema 2).
	Durable bool `json:"durable,omitempty"`
	// ConformanceTest is the module's own test in Package. In schema 1 it
	// is what verifies the feature (it must run navius's suites); in
	// schema 2 it is optional for a service "conformance" covers, run and
	// reported beside the harness but not deciding, and still what
	// verifies a log sink or an observer that "conformance" leaves out.
	ConformanceTest string `json:"conformance_test,omitempty"`
	// Schema is the schema of the file the feature was read from.
	Schema int `json:"-"`
}

// Verified reports whether navius's harness verifies the feature: a
// schema-2 feature with a "conformance" entry for every service.
func (f Feature) Verified() bool {
	return f.Schema >= 2 && len(f.Conformance) > 0 && len(f.Suites()) == len(f.Conformance)
}

// URLServices are the services whose instance is a URL template; the
// others' is settings and a read-back function.
var URLServices = []string{conformance.Database, conformance.Cache}

// Instance is what navius's harness needs to open a fresh instance of a
// provider. In the feature file it is a URL template (a string) for a
// database or a cache, or an object:
//
//	{"url": "acme://{dir}/db", "options": {"acme.table": "t_{id}"}}                  // a database or a cache
//	{"options": {"acme.path": "{dir}/log.jsonl"}, "read": "ReadEntries"}             // a log sink
//	{"options": {"acme.path": "{dir}/metrics.json"}, "read": "ReadMetric"}           // an observer
//
// In every value {dir} is a new directory for the instance and {id} a
// fresh token (a key prefix or a table name for data on a server).
type Instance struct {
	// URL is a database's or cache's URL template.
	URL string `json:"url,omitempty"`
	// Options are settings of the instance, beside the declared options'
	// defaults; keys under the feature's section.
	Options map[string]string `json:"options,omitempty"`
	// Read names an exported function of the feature's package that reads
	// back what reached an instance's destination: for a log sink
	// func(providers.Settings) ([]providers.LogEntry, error), required;
	// for an observer, optional, func(providers.Observer,
	// providers.Settings, providers.Metric, []string) (value float64,
	// count uint64, found bool, err error).
	Read string `json:"read,omitempty"`
}

// UnmarshalJSON reads an instance written as a URL template or as an
// object.
func (in *Instance) UnmarshalJSON(data []byte) error {
	var url string
	if json.Unmarshal(data, &url) == nil {
		*in = Instance{URL: url}
		return nil
	}
	type plain Instance
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf(`a "conformance" entry is a URL template or an object of "url", "options" and "read": %v`, err)
	}
	*in = Instance(p)
	return nil
}

// MarshalJSON writes an instance that is only a URL as its template.
func (in Instance) MarshalJSON() ([]byte, error) {
	if in.Options == nil && in.Read == "" {
		return json.Marshal(in.URL)
	}
	type plain Instance
	return json.Marshal(plain(in))
}

// Option declares one config option, as providers.Option does in code.
type Option struct {
	Key         string   `json:"key"`
	Type        string   `json:"type"`
	Default     string   `json:"default,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Description string   `json:"description"`
	Secret      bool     `json:"secret,omitempty"`
}

// Suites are the conformance suites the feature's conformance test must run:
// one per service it provides.
func (f Feature) Suites() []string {
	var out []string
	for _, p := range f.Provides {
		svc, _, _ := strings.Cut(p, ":")
		if slices.Contains(conformance.Suites, svc) && !slices.Contains(out, svc) {
			out = append(out, svc)
		}
	}
	return out
}

// ProviderOptions returns the options as providers.Option values.
func (f Feature) ProviderOptions() []providers.Option {
	out := make([]providers.Option, len(f.Options))
	for i, o := range f.Options {
		out[i] = providers.Option{Key: o.Key, Type: providers.OptionType(o.Type), Default: o.Default,
			Enum: o.Enum, Description: o.Description, Secret: o.Secret, Feature: f.Name}
	}
	return out
}

var (
	fileFields    = []string{"schema", "features"}
	featureFields = []string{"name", "description", "category", "provides", "schemes", "requires", "options", "package", "conformance", "durable", "conformance_test"}
	optionFields  = []string{"key", "type", "default", "enum", "description", "secret"}

	nameRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`) // as features.json: a name is also a build tag
	providerRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	testRE     = regexp.MustCompile(`^Test([A-Z0-9_][A-Za-z0-9_]*)?$`)
	importRE   = regexp.MustCompile(`^[A-Za-z0-9._~+-]+(/[A-Za-z0-9._~+-]+)*$`)
	optKeyRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	schemeRE   = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	goNameRE   = regexp.MustCompile(`^[A-Z][A-Za-z0-9_]*$`)

	// reservedNames can't be feature names: the FEATURES words, and the
	// sections of navius's core options, which a feature's options would
	// join ("server.x").
	reservedNames = []string{"default", "all", "none", "custom", "core",
		"listen", "server", "database", "cache", "log", "logging", "health", "auth", "observability", "tls", "watch", "navius"}

	optionTypes = []providers.OptionType{providers.String, providers.Int, providers.Bool, providers.Duration,
		providers.Bytes, providers.Enum, providers.URL, providers.List}
)

// Parse decodes and checks a feature file on its own; name is the file's
// path, for messages. Unknown fields, a missing or unknown schema, and
// malformed entries are errors naming the field and the fix.
func Parse(name string, data []byte) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	if err := checkFields(data, name); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fail("%s", jsonProblem(data, err))
	}
	if dec.More() {
		return nil, fail("trailing data after the top-level object: the file holds one JSON object")
	}
	switch {
	case f.Schema == 0:
		return nil, fail(`no "schema": add "schema": %d`, Schema)
	case f.Schema < 1 || f.Schema > Schema:
		return nil, fail("schema %d is not supported: this navius reads schemas 1 and %d", f.Schema, Schema)
	case len(f.Features) == 0:
		return nil, fail(`declares no feature: add one under "features" (see docs/PROVIDERS.md)`)
	}
	seen := map[string]bool{}
	for i, feat := range f.Features {
		where := fmt.Sprintf("features[%d]", i)
		if feat.Name != "" {
			where = fmt.Sprintf("feature %q", feat.Name)
		}
		f.Features[i].Schema = f.Schema
		if err := f.Features[i].check(); err != nil {
			return nil, fail("%s: %v", where, err)
		}
		if seen[feat.Name] {
			return nil, fail("feature %q is declared twice: give each feature its own name", feat.Name)
		}
		seen[feat.Name] = true
	}
	return &f, nil
}

// CheckFeatureName refuses what can't be a module's feature name: not of
// the form of navius's feature names, or reserved.
func CheckFeatureName(name string) error {
	switch {
	case !nameRE.MatchString(name):
		return fmt.Errorf("the name must match %s (it is also a build tag): e.g. %q", nameRE, suggestName(name))
	case slices.Contains(reservedNames, name):
		return fmt.Errorf("the name is reserved by navius: pick another, e.g. \"acme_%s\"", name)
	}
	return nil
}

func (f Feature) check() error {
	switch {
	case f.Name == "":
		return errors.New(`no "name": add one (lower case letters, digits, _; it is also a build tag)`)
	case CheckFeatureName(f.Name) != nil:
		return CheckFeatureName(f.Name)
	case strings.TrimSpace(f.Description) == "":
		return errors.New(`no "description": say in one sentence what the feature brings`)
	case f.Category == "":
		return errors.New(`no "category": use storage, logging, observability or a word of your own`)
	case !nameRE.MatchString(f.Category):
		return fmt.Errorf("category %q must be one lower-case word (storage, logging, observability, ...)", f.Category)
	case len(f.Provides) == 0:
		return errors.New(`"provides" is empty: name what the feature registers, e.g. ["database:` + f.Name + `"]`)
	case f.Package == "":
		return errors.New(`no "package": give the import path whose init() registers the provider`)
	case !importRE.MatchString(f.Package) || strings.Contains(f.Package, "//"):
		return fmt.Errorf("package %q is not an import path", f.Package)
	case f.Schema == 1 && (len(f.Conformance) > 0 || f.Durable):
		return errors.New(`"conformance" and "durable" are schema 2 fields: set "schema": 2`)
	case f.Schema == 1 && f.ConformanceTest == "":
		return errors.New(`no "conformance_test": name the test in the package that calls navius's providertest suites, e.g. "TestConformance" (or move to schema 2, where navius's harness tests the provider itself)`)
	case f.ConformanceTest != "" && !testRE.MatchString(f.ConformanceTest):
		return fmt.Errorf("conformance_test %q is not a Go test name (TestXxx)", f.ConformanceTest)
	}
	for _, p := range f.Provides {
		svc, prov, ok := strings.Cut(p, ":")
		if !ok || !providerRE.MatchString(prov) {
			return fmt.Errorf("provides entry %q is not of the form service:provider (e.g. \"database:%s\")", p, f.Name)
		}
		if !slices.Contains(conformance.Suites, svc) {
			return fmt.Errorf("provides entry %q: a module can provide %s, not %q", p, strings.Join(conformance.Suites, ", "), svc)
		}
	}
	for _, sc := range f.Schemes {
		svc, scheme, ok := strings.Cut(sc, ":")
		if !ok || !schemeRE.MatchString(scheme) {
			return fmt.Errorf("schemes entry %q is not of the form service:scheme (e.g. \"database:%s\")", sc, f.Name)
		}
		if !slices.ContainsFunc(f.Provides, func(p string) bool { return strings.HasPrefix(p, svc+":") }) {
			return fmt.Errorf("schemes entry %q: the feature provides no %s", sc, svc)
		}
	}
	for _, p := range f.Provides {
		svc, prov, _ := strings.Cut(p, ":")
		if (svc == "database" || svc == "cache") && !slices.ContainsFunc(f.Schemes, func(s string) bool { return strings.HasPrefix(s, svc+":") }) {
			return fmt.Errorf(`provides %q but "schemes" lists no %s URL scheme: add the schemes its Register%s call registers, e.g. "schemes": ["%s:%s"]`,
				p, svc, registerCall(svc), svc, prov)
		}
	}
	if err := f.checkConformance(); err != nil {
		return err
	}
	for _, r := range f.Requires {
		if !nameRE.MatchString(r) {
			return fmt.Errorf("requires entry %q is not a feature name", r)
		}
		if r == f.Name {
			return errors.New("the feature requires itself: remove it from requires")
		}
	}
	keys := map[string]bool{}
	for _, o := range f.Options {
		if err := o.check(f.Name); err != nil {
			return err
		}
		if keys[o.Key] {
			return fmt.Errorf("option %q is declared twice", o.Key)
		}
		keys[o.Key] = true
	}
	return nil
}

// checkConformance holds a schema-2 feature's "conformance" entries to
// what it provides: a URL template for each database and cache, of a
// scheme the feature declares; settings and a read-back function for a
// log sink, settings for an observer; and "conformance_test" for a log
// sink or an observer without an entry.
func (f Feature) checkConformance() error {
	if f.Schema < 2 {
		return nil
	}
	for _, svc := range f.Suites() {
		if _, ok := f.Conformance[svc]; ok {
			continue
		}
		if slices.Contains(URLServices, svc) {
			return fmt.Errorf(`provides a %s but "conformance" has no URL template for it: add e.g. "conformance": {"%s": "%s://{dir}/data"} (a fresh instance; {dir} is a new directory)`, svc, svc, f.firstScheme(svc))
		}
		if f.ConformanceTest == "" {
			return fmt.Errorf(`provides a %s: give navius's harness its settings in "conformance", e.g. "conformance": {"%s": {"options": {"%s.path": "{dir}/out"}%s}}, or name the module's test that runs providertest.%s in "conformance_test"`,
				svc, svc, f.Name, map[bool]string{true: `, "read": "ReadEntries"`}[svc == conformance.Logging], entryPoint(svc))
		}
	}
	for _, svc := range slices.Sorted(maps.Keys(f.Conformance)) {
		in := f.Conformance[svc]
		if !slices.Contains(f.Suites(), svc) {
			return fmt.Errorf(`"conformance" has a %s entry, but the feature provides no %s`, svc, svc)
		}
		for k := range in.Options {
			if !strings.HasPrefix(k, f.Name+".") || !optKeyRE.MatchString(k) {
				return fmt.Errorf(`"conformance" %s option %q: give settings of the feature's own section, e.g. %q`, svc, k, f.Name+"."+lastSegment(k))
			}
		}
		if in.Read != "" && !goNameRE.MatchString(in.Read) {
			return fmt.Errorf(`"conformance" %s "read": %q is not an exported Go function name (e.g. "ReadEntries")`, svc, in.Read)
		}
		if !slices.Contains(URLServices, svc) {
			switch {
			case in.URL != "":
				return fmt.Errorf(`"conformance" %s: a %s has no URL; give its settings in "options"`, svc, svc)
			case svc == conformance.Logging && in.Read == "":
				return fmt.Errorf(`"conformance" logging: name in "read" the package's function that reads back what a sink delivered, func(providers.Settings) ([]providers.LogEntry, error)`)
			}
			continue
		}
		if in.Read != "" {
			return fmt.Errorf(`"conformance" %s: "read" is for log sinks and observers; the harness reads a %s through the provider`, svc, svc)
		}
		if in.URL == "" {
			return fmt.Errorf(`"conformance" %s has no URL template: give one, e.g. {"url": "%s://{dir}/data"}`, svc, f.firstScheme(svc))
		}
		scheme, err := providers.Scheme(expandPlaceholders(in.URL))
		if err != nil {
			return fmt.Errorf(`"conformance" %s URL template %q: %v`, svc, in.URL, err)
		}
		if !slices.Contains(f.Schemes, svc+":"+scheme) {
			return fmt.Errorf(`"conformance" %s URL template %q uses scheme %q, which the feature does not declare in "schemes"`, svc, in.URL, scheme)
		}
	}
	if f.Durable && !slices.Contains(f.Suites(), conformance.Database) {
		return errors.New(`"durable" is about a database, and the feature provides none: remove it`)
	}
	return nil
}

// expandPlaceholders fills a template's placeholders with stand-ins, to
// check its form.
func expandPlaceholders(tmpl string) string {
	return strings.NewReplacer("{dir}", "/dir", "{id}", "id").Replace(tmpl)
}

func (f Feature) firstScheme(svc string) string {
	for _, s := range f.Schemes {
		if rest, ok := strings.CutPrefix(s, svc+":"); ok {
			return rest
		}
	}
	return f.Name
}

func (o Option) check(feature string) error {
	switch {
	case o.Key == "":
		return errors.New(`an option has no "key"`)
	case !optKeyRE.MatchString(o.Key) || !strings.HasPrefix(o.Key, feature+"."):
		return fmt.Errorf("option key %q must be under the feature's own section, e.g. %q", o.Key, feature+"."+lastSegment(o.Key))
	case !slices.Contains(optionTypes, providers.OptionType(o.Type)):
		return fmt.Errorf("option %s: type %q is not one of %s", o.Key, o.Type, joinTypes())
	case strings.TrimSpace(o.Description) == "":
		return fmt.Errorf("option %s has no description", o.Key)
	case o.Type == string(providers.Enum) && len(o.Enum) == 0:
		return fmt.Errorf(`option %s is an enum without "enum" values: list them`, o.Key)
	case o.Type != string(providers.Enum) && len(o.Enum) > 0:
		return fmt.Errorf(`option %s lists "enum" values but its type is %s: make it an enum or drop them`, o.Key, o.Type)
	}
	if o.Default != "" {
		po := providers.Option{Key: o.Key, Type: providers.OptionType(o.Type), Enum: o.Enum}
		if err := po.Check(o.Default); err != nil {
			return fmt.Errorf("option %s: default %v", o.Key, err)
		}
	}
	return nil
}

// checkFields refuses unknown fields with a message that says where they
// are and what the known ones are (encoding/json's says neither).
func checkFields(data []byte, name string) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil // not an object: the typed decode reports it
	}
	if err := unknownField(top, fileFields, "the top level", name); err != nil {
		return err
	}
	var feats []map[string]json.RawMessage
	if json.Unmarshal(top["features"], &feats) != nil {
		return nil
	}
	for i, f := range feats {
		where := fmt.Sprintf("features[%d]", i)
		var n string
		if json.Unmarshal(f["name"], &n) == nil && n != "" {
			where = fmt.Sprintf("feature %q", n)
		}
		if err := unknownField(f, featureFields, where, name); err != nil {
			return err
		}
		var opts []map[string]json.RawMessage
		if json.Unmarshal(f["options"], &opts) != nil {
			continue
		}
		for j, o := range opts {
			if err := unknownField(o, optionFields, fmt.Sprintf("%s, options[%d]", where, j), name); err != nil {
				return err
			}
		}
	}
	return nil
}

func unknownField(obj map[string]json.RawMessage, known []string, where, name string) error {
	var unknown []string
	for k := range obj {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	k := unknown[0]
	hint := ""
	if s := suggest.Closest(k, known); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Errorf("%s: %s: unknown field %q%s: remove it; the fields are %s", name, where, k, hint, strings.Join(known, ", "))
}

// jsonProblem turns a decoding error into a sentence with a line number.
func jsonProblem(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at line %d: %s", lineOf(data, syn.Offset), syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fmt.Sprintf("line %d: the file must hold a JSON object, not a %s", lineOf(data, typ.Offset), typ.Value)
		}
		return fmt.Sprintf("line %d: field %q must be a %s, not a %s", lineOf(data, typ.Offset), field, jsonType(typ.Type.String()), typ.Value)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the file is empty or cut short: it must hold one JSON object"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "list"
	case goType == "string":
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "int"):
		return "number"
	}
	return "object"
}

func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

func lastSegment(key string) string {
	if i := strings.LastIndex(key, "."); i >= 0 {
		key = key[i+1:]
	}
	if key == "" {
		return "setting"
	}
	return key
}

func suggestName(s string) string {
	s = strings.ToLower(strings.NewReplacer("-", "_", ".", "_", " ", "_").Replace(s))
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "x" + s
	}
	return s
}

func registerCall(service string) string {
	if service == "cache" {
		return "Cache"
	}
	return "Database"
}

func joinTypes() string {
	names := make([]string, len(optionTypes))
	for i, t := range optionTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
