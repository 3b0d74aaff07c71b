package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/thirdparty"
	"github.com/navius-dev/navius/providers"
)

// catalogFile is the operator's list of the third-party modules builder
// serve may build in: nothing else can be.
type catalogFile struct {
	Modules []catalogFileEntry `json:"modules"`
}

type catalogFileEntry struct {
	Module      string `json:"module"`
	Version     string `json:"version"`
	Description string `json:"description"`
	// Dir is a local copy of the module (relative to the catalog file);
	// without it the module is fetched at Version.
	Dir string `json:"dir,omitempty"`
}

// catalogModule is a catalog entry, loaded, with its verification state:
// it is verified (navius's conformance suites on what it registers) before
// its first build, once.
type catalogModule struct {
	entry  catalogFileEntry
	mod    *thirdparty.Module
	digest string // what the result cache keys it by: version, or a local copy's content

	verifying sync.Mutex // held while verifying: one run at a time
	mu        sync.Mutex // guards the verdict
	state     string     // "unverified", "verified", "refused"
	problem   string     // why it was refused
	verified  time.Duration
}

// loadCatalog reads the catalog file and loads its modules, checked
// together against nav (thirdparty.Check), and returns nav with their
// features added.
func loadCatalog(ctx context.Context, nav *manifest.Manifest, path string) ([]*catalogModule, *manifest.Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var f catalogFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("not a catalog (%v): write {\"modules\":[{\"module\":PATH,\"version\":VERSION,\"description\":TEXT}]}", err)
	}
	var args []string
	for i, e := range f.Modules {
		if e.Module == "" || e.Version == "" || e.Description == "" {
			return nil, nil, fmt.Errorf("module %d: give its module path, version and description", i+1)
		}
		arg := e.Module + "@" + e.Version
		if e.Dir != "" {
			dir := e.Dir
			if !filepath.IsAbs(dir) {
				dir = filepath.Join(filepath.Dir(path), dir)
			}
			arg = e.Module + "=" + dir
		}
		args = append(args, arg)
	}
	// As navius build --with loads them: fetched, feature files read and
	// checked together against navius's features.
	mods, merged, err := build.LoadModules(ctx, nav, args)
	if err != nil {
		return nil, nil, err
	}
	var out []*catalogModule
	for i, m := range mods {
		e := f.Modules[i]
		if m.Path != e.Module {
			return nil, nil, fmt.Errorf("module %s: its go.mod names module %s", e.Module, m.Path)
		}
		digest := e.Version + " " + m.Version
		if m.Local {
			if digest, err = dirDigest(m.Dir); err != nil {
				return nil, nil, fmt.Errorf("module %s: %v", e.Module, err)
			}
		}
		out = append(out, &catalogModule{entry: e, mod: m, digest: digest, state: "unverified"})
	}
	return out, merged, nil
}

// dirDigest hashes the regular files under dir (names and contents), so
// that a changed local module is a new cache key.
func dirDigest(dir string) (string, error) {
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %s\n", rel, sha256Hex(data))
		return nil
	})
	return "dir " + sha256Hex(b.Bytes()), err
}

// moduleOf is the catalog module that brings feature name, nil for
// navius's own.
func (s *webServer) moduleOf(name string) *catalogModule {
	for _, cm := range s.catalog {
		if slices.ContainsFunc(cm.mod.Features, func(f thirdparty.Feature) bool { return f.Name == name }) {
			return cm
		}
	}
	return nil
}

// apiFeature is one feature of GET /api/catalog.
type apiFeature struct {
	Name        string         `json:"name"`
	Category    string         `json:"category"`
	Description string         `json:"description"`
	Default     bool           `json:"default"`
	Requires    []string       `json:"requires"`
	Provides    []string       `json:"provides"`
	Modules     []apiModuleRef `json:"modules"`
	SizeImpact  *int64         `json:"size_impact"`
	// Module is set for a catalog module's feature: non-standard.
	Module *apiCatalogModule `json:"module,omitempty"`
}

type apiModuleRef struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
}

type apiCatalogModule struct {
	Path        string `json:"path"`
	Version     string `json:"version"`
	Description string `json:"description"`
	// Verification is "unverified" (verified at its first build),
	// "verified" or "refused" (Problem names the failing case).
	Verification string `json:"verification"`
	Problem      string `json:"problem,omitempty"`
}

type apiCatalog struct {
	Version string `json:"version"`
	// Builds: false without a source tree, NoBuilds says why.
	Builds     bool              `json:"builds"`
	NoBuilds   string            `json:"no_builds,omitempty"`
	Auth       bool              `json:"auth"`
	CoreSize   *int64            `json:"core_size"`
	Categories []string          `json:"categories"`
	Features   []apiFeature      `json:"features"`
	Profiles   []Profile         `json:"profiles"`
	Platforms  []string          `json:"platforms"`
	Artifacts  []apiArtifactKind `json:"artifacts"`
}

type apiArtifactKind struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

var artifactKinds = []apiArtifactKind{
	{"binary", "the static binary (its SBOM beside it)"},
	{"archive", "a release archive (.tar.gz): the binary, its SBOM, a sample config, a README and the license"},
	{"image", "an OCI image archive (docker load, podman load, skopeo), with the SBOM in the image (Linux platforms)"},
}

// platforms are those the page offers; images take the Linux ones.
var platforms = []string{
	"linux/amd64", "linux/arm64", "linux/386", "linux/ppc64le", "linux/riscv64", "linux/s390x",
	"darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64", "freebsd/amd64",
}

// catalogJSON is GET /api/catalog.
func (s *webServer) catalogJSON() apiCatalog {
	c := apiCatalog{
		Version: buildinfo.Read().Version, Builds: s.t != nil, NoBuilds: s.noSource, Auth: s.auth != nil,
		CoreSize: s.nav.Core.SizeImpact, Categories: s.nav.Categories(), Profiles: orEmptyProfiles(s.profiles),
		Platforms: platforms, Artifacts: artifactKinds,
	}
	if s.t != nil {
		c.Version = s.t.version()
	}
	for _, f := range s.nav.Features {
		af := apiFeature{Name: f.Name, Category: f.Category, Description: f.Description, Default: f.Default,
			Requires: orEmpty(f.Requires), Provides: orEmpty(f.Provides), Modules: []apiModuleRef{}, SizeImpact: f.SizeImpact}
		for _, m := range f.Modules {
			af.Modules = append(af.Modules, apiModuleRef{Path: m, Version: s.versions[m]})
		}
		if cm := s.moduleOf(f.Name); cm != nil {
			state, problem := cm.status()
			af.Module = &apiCatalogModule{Path: cm.mod.Path, Version: cm.entry.Version, Description: cm.entry.Description,
				Verification: state, Problem: problem}
			af.Modules = append(af.Modules, apiModuleRef{Path: cm.mod.Path, Version: cm.entry.Version})
		}
		c.Features = append(c.Features, af)
	}
	return c
}

func orEmptyProfiles(p []Profile) []Profile {
	if p == nil {
		return []Profile{}
	}
	return p
}

// selection is a resolved request for the page: what the resolver made of
// it, or why it refused it.
type selection struct {
	Spec     string   `json:"spec"`
	Features []string `json:"features"`
	// Added are the requirements the resolver added.
	Added []string `json:"added"`
	// RequiredBy says, for each added feature, which selected one needs it.
	RequiredBy map[string][]string `json:"required_by"`
	// Warning explains a selection that cannot serve (no database).
	Warning string `json:"warning,omitempty"`
	// Notes say what the default configuration needs that the selection
	// lacks.
	Notes []string `json:"notes"`
	// Size is the estimated size in bytes: the core and each feature's
	// measured impact; Unmeasured lists the features without one.
	Size       int64    `json:"size"`
	Unmeasured []string `json:"unmeasured"`
	Chart      string   `json:"chart"`
	Make       string   `json:"make"`
	Command    string   `json:"command"`

	sel  manifest.Selection
	mods []*catalogModule
}

// requestError is bad input with the HTTP status to answer it with.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: 400, msg: fmt.Sprintf(format, args...)}
}

// maxFeatureItems bounds a features list.
const maxFeatureItems = 64

// resolve resolves a features list as make build's FEATURES (plus catalog
// module paths, each standing for its features) with the one resolver.
// A list that leaves out every database is an error, unless it names none
// (a deliberately tool-only build), as for navius build.
func (s *webServer) resolve(spec string) (*selection, error) {
	items := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' })
	if len(items) > maxFeatureItems {
		return nil, badRequest("features: %d items; at most %d", len(items), maxFeatureItems)
	}
	var expanded []string
	for _, it := range items {
		if !strings.ContainsAny(it, "./") {
			expanded = append(expanded, it)
			continue
		}
		path, _, _ := strings.Cut(strings.TrimPrefix(it, "-"), "@")
		cm := s.catalogModule(path)
		if cm == nil {
			return nil, badRequest("module %s is not in this builder's catalog: only catalog modules can be built in (%s)", path, s.catalogNames())
		}
		for _, f := range cm.mod.Features {
			expanded = append(expanded, f.Name)
		}
	}
	spec = strings.Join(expanded, ",")
	sel, err := s.nav.Resolve(spec)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	warning, err := s.nav.CheckServes(spec, sel)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	out := &selection{Spec: spec, Features: orEmpty(sel.Features), Added: orEmpty(sel.Added), RequiredBy: map[string][]string{},
		Warning: warning, Notes: s.configNotes(sel.Features), sel: sel, Unmeasured: []string{}}
	for _, a := range sel.Added {
		out.RequiredBy[a] = s.nav.RequiredBy(a, sel.Features)
	}
	for _, n := range sel.Features {
		if cm := s.moduleOf(n); cm != nil && !slices.Contains(out.mods, cm) {
			out.mods = append(out.mods, cm)
		}
	}
	out.Size, out.Unmeasured = s.estimate(sel.Features)
	out.Chart = sizeChart(s.nav, sel.Features)
	return out, nil
}

func (s *webServer) catalogNames() string {
	if len(s.catalog) == 0 {
		return "its catalog is empty"
	}
	var names []string
	for _, cm := range s.catalog {
		names = append(names, cm.mod.Path)
	}
	return "the catalog: " + strings.Join(names, ", ")
}

// estimate adds the core's and each feature's measured size.
func (s *webServer) estimate(features []string) (int64, []string) {
	var total int64
	if s.nav.Core.SizeImpact != nil {
		total = *s.nav.Core.SizeImpact
	}
	unmeasured := []string{}
	for _, n := range features {
		if f := s.nav.Feature(n); f.SizeImpact != nil {
			total += *f.SizeImpact
		} else {
			unmeasured = append(unmeasured, n)
		}
	}
	return total, unmeasured
}

// configNotes say which selected-away feature the default configuration
// needs: database.url and cache.url default to URLs whose scheme a
// feature serves (a build without memory has no default cache, and serve
// refuses to start until cache.url is set).
func (s *webServer) configNotes(features []string) []string {
	notes := []string{}
	for _, svc := range []string{"database", "cache"} {
		if len(s.nav.ProvidersOf(features, svc)) == 0 {
			continue // no such service at all: CheckServes or the cache's "none" say it
		}
		url := config.DefaultDatabaseURLWith(s.providerNames(features, "database"))
		if o, ok := providers.LookupOption(svc + ".url"); ok && svc != "database" {
			url = o.Default
		}
		scheme, err := providers.Scheme(url)
		if err != nil {
			continue
		}
		need := s.nav.SchemeFeature(svc, scheme)
		if need == "" || slices.Contains(features, need) {
			continue
		}
		var others []string
		for _, sc := range s.nav.Schemes(features, svc) {
			others = append(others, sc+"://")
		}
		alt := strings.Join(others, " or ")
		if svc == "cache" {
			alt += " or none"
		}
		notes = append(notes, fmt.Sprintf("without %s, the default %s (%s.url %s) is not in this build: serve refuses to start until the config sets %s.url (%s)",
			need, svc, svc, url, svc, alt))
	}
	return notes
}

// providerNames are the provider names of service the features bring.
func (s *webServer) providerNames(features []string, service string) []string {
	return (&tree{manifest: s.nav}).providerNames(features, service)
}

// commands are the CLI equivalents of building sel as artifact for
// platform.
func (s *webServer) commands(sel *selection, platform, artifact string) (mk, nav string) {
	var own []string
	for _, n := range sel.sel.Features {
		if !slices.Contains(sel.sel.External, n) {
			own = append(own, n)
		}
	}
	list := strings.Join(own, ",")
	if len(s.nav.ProvidersOf(sel.sel.Features, "database")) == 0 || list == "" {
		list = strings.Trim("none,"+list, ",")
	}
	var with []string
	for _, cm := range sel.mods {
		// The catalog's version, not the builder's local copy: what
		// someone else would build it in with.
		with = append(with, cm.mod.Path+"@"+cm.entry.Version)
	}
	mk = "make build FEATURES=" + list
	if artifact == "image" {
		mk = "make image FEATURES=" + list
		if platform != "" {
			mk += " PLATFORM=" + platform
		}
	} else if artifact == "archive" {
		mk = "make package FEATURES=" + list
	}
	if len(with) > 0 {
		mk += " WITH=\"" + strings.Join(with, " ") + "\""
	}
	switch artifact {
	case "archive":
		nav = "navius package --features " + list
	case "image":
		nav = "navius package --image --features " + list
		if platform != "" {
			nav += " --platform " + platform
		}
	default:
		nav = "navius build --features " + list
	}
	if platform != "" && artifact != "image" {
		nav += " --target " + platform
	}
	for _, w := range with {
		nav += " --with " + w
	}
	return mk, nav
}

// sizeChart draws the estimate as an SVG bar chart: one bar per feature
// (the core first), its length the measured size.
func sizeChart(m *manifest.Manifest, features []string) string {
	type bar struct {
		name string
		size int64
	}
	var bars []bar
	if m.Core.SizeImpact != nil {
		bars = append(bars, bar{"core", *m.Core.SizeImpact})
	}
	var longest int64 = 1
	for _, n := range features {
		if f := m.Feature(n); f != nil && f.SizeImpact != nil {
			bars = append(bars, bar{n, *f.SizeImpact})
		}
	}
	for _, b := range bars {
		longest = max(longest, b.size)
	}
	const rowH, labelW, barW, width = 22, 90, 250, 440
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="size by feature" width="%d" height="%d" viewBox="0 0 %d %d">`,
		width, rowH*len(bars)+4, width, rowH*len(bars)+4)
	for i, b := range bars {
		y := i*rowH + 2
		w := int(float64(b.size) / float64(longest) * barW)
		fmt.Fprintf(&sb, `<text x="0" y="%d" class="label">%s</text>`, y+15, html.EscapeString(b.name))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%d" height="16" class="bar%s" data-feature="%s" data-bytes="%d"/>`,
			labelW, y+2, max(w, 1), map[bool]string{true: " core", false: ""}[b.name == "core"], html.EscapeString(b.name), b.size)
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="value">%s</text>`, labelW+max(w, 1)+6, y+15, human(b.size))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// catalogModule is the catalog's module of path, or nil.
func (s *webServer) catalogModule(path string) *catalogModule {
	if i := slices.IndexFunc(s.catalog, func(cm *catalogModule) bool { return cm.mod.Path == path }); i >= 0 {
		return s.catalog[i]
	}
	return nil
}
