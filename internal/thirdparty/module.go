package thirdparty

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/navius-dev/navius/internal/manifest"
)

// Module is a provider module as `navius build --with` names it, with its
// feature file read and checked against its own source.
type Module struct {
	// Path is the module path from its go.mod.
	Path string
	// Version is the version asked for; "" for a local directory.
	Version string
	// Dir is the absolute directory of the module's source (its root, with
	// go.mod and the feature file).
	Dir string
	// Local: Dir was given (MODULE=DIR), and the build replaces the module
	// with it; else Dir is in the module cache.
	Local bool
	// FeatureFile is the path of the feature file.
	FeatureFile string
	Features    []Feature
}

// With is one --with argument: MODULE[@VERSION][=LOCAL_DIR], as xcaddy takes
// them.
type With struct {
	Module  string
	Version string // "" when not given
	Dir     string // "" when not given; as written (may be relative)
}

// ParseWith reads a --with argument.
func ParseWith(arg string) (With, error) {
	spec, dir, hasDir := strings.Cut(strings.TrimSpace(arg), "=")
	mod, version, hasVersion := strings.Cut(spec, "@")
	w := With{Module: mod, Version: version, Dir: dir}
	switch {
	case mod == "":
		return With{}, fmt.Errorf("--with %q names no module: use MODULE[@VERSION][=LOCAL_DIR], e.g. example.com/navius-fsdb=./examples/fsdb", arg)
	case !importRE.MatchString(mod) || strings.Contains(mod, "//"):
		return With{}, fmt.Errorf("--with %q: %q is not a module path: use MODULE[@VERSION][=LOCAL_DIR]", arg, mod)
	case hasVersion && version == "":
		return With{}, fmt.Errorf("--with %q: empty version after @: give one (v1.2.3, latest) or drop the @", arg)
	case hasVersion && strings.ContainsAny(version, " /\\"):
		return With{}, fmt.Errorf("--with %q: %q is not a version (v1.2.3, latest, a commit)", arg, version)
	case hasDir && dir == "":
		return With{}, fmt.Errorf("--with %q: empty directory after =: give the module's local directory or drop the =", arg)
	case !hasVersion && !hasDir:
		// A bare path would be looked up on the network, so that a typo
		// became a network error: ask for the intent.
		return With{}, fmt.Errorf("--with %q: give a version (%s@v1.2.3, or %s@latest to look it up) or the module's local directory (%s=DIR)", arg, mod, mod, mod)
	}
	if msg := majorMismatch(mod, version); msg != "" {
		// go would refuse it too, but only once the build has started,
		// with a message about a temporary go.mod.
		fix := ""
		if hasDir {
			fix = fmt.Sprintf(", or drop @%s to build the directory as it is", version)
		}
		return With{}, fmt.Errorf("--with %q: %s%s", arg, msg, fix)
	}
	return w, nil
}

var (
	// semverRE is a semantic version (or its v1, v1.2 prefix); its first
	// group the major version.
	semverRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)(\.[0-9]+(\.[0-9]+)?)?([-+].*)?$`)
	// majorSuffixRE is the major version suffix of a module path: /vN
	// (N >= 2), or .vN for gopkg.in.
	majorSuffixRE = regexp.MustCompile(`(?:/v([2-9]|[1-9][0-9]+)|^gopkg\.in/.*\.v(0|[1-9][0-9]*)(?:-unstable)?)$`)
)

// majorMismatch says why version cannot be a version of module path mod,
// as Go's rule for major versions has it: a module at v2 or later has a
// path ending in /vN (gopkg.in paths in .vN), and only versions of that
// major. "" when it fits, is a query (latest, a branch, a commit) or
// +incompatible (a module without go.mod, which go checks itself).
func majorMismatch(mod, version string) string {
	v := semverRE.FindStringSubmatch(version)
	if v == nil || strings.HasSuffix(version, "+incompatible") {
		return ""
	}
	major := v[1]
	suffix := majorSuffixRE.FindStringSubmatch(mod)
	switch {
	case suffix == nil && (major == "0" || major == "1"):
		return ""
	case suffix == nil:
		return fmt.Sprintf("version %s does not fit module path %s, which takes v0 and v1 versions only (a v%s module's path ends in /v%s): give a v0 or v1 version, or the module path its go.mod declares", version, mod, major, major)
	}
	pathMajor := suffix[1] + suffix[2]
	if major == pathMajor {
		return ""
	}
	return fmt.Sprintf("version %s does not fit module path %s, which takes v%s versions only: give a v%s version, or the module path its go.mod declares", version, mod, pathMajor, pathMajor)
}

// String formats w as it is given to --with.
func (w With) String() string {
	s := w.Module
	if w.Version != "" {
		s += "@" + w.Version
	}
	if w.Dir != "" {
		s += "=" + w.Dir
	}
	return s
}

// Load reads the module from dir (w.Dir for the local form; for a version,
// the directory `go mod download -json MODULE@VERSION` reports) and checks
// that dir holds w.Module.
func (w With) Load(dir string) (*Module, error) {
	m, err := LoadModule(dir)
	if err != nil {
		return nil, err
	}
	if m.Path != w.Module {
		fix := "fix the module path or the directory"
		if w.Dir != "" {
			fix = fmt.Sprintf("name the module its go.mod declares (--with %s), or give the directory of %s", With{Module: m.Path, Version: w.Version, Dir: w.Dir}, w.Module)
		}
		return nil, fmt.Errorf("--with %s: %s holds module %s, not %s: %s", w, m.Dir, m.Path, w.Module, fix)
	}
	m.Version = w.Version
	return m, nil
}

// LoadModule reads the module at dir: its path from go.mod and its feature
// file, and checks that each feature's package is in the module and has its
// conformance test.
func LoadModule(dir string) (*Module, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("module directory %s: %v", dir, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("module directory %s does not exist: give the directory of the module's go.mod", dir)
	}
	gomod, err := os.ReadFile(filepath.Join(abs, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("%s has no go.mod: give the root directory of a Go module", dir)
	}
	path := ModulePath(gomod)
	if path == "" {
		return nil, fmt.Errorf("%s: no module directive: the go.mod must start with `module <path>`", filepath.Join(dir, "go.mod"))
	}
	m := &Module{Path: path, Dir: abs, FeatureFile: filepath.Join(abs, FileName)}
	data, err := os.ReadFile(m.FeatureFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("module %s (%s) has no %s at its root: add one that declares its feature (see docs/PROVIDERS.md)", path, dir, FileName)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", m.FeatureFile, err)
	}
	f, err := Parse(m.FeatureFile, data)
	if err != nil {
		return nil, err
	}
	for _, feat := range f.Features {
		if err := m.checkPackage(feat); err != nil {
			return nil, fmt.Errorf("%s: feature %q: %v", m.FeatureFile, feat.Name, err)
		}
	}
	m.Features = f.Features
	return m, nil
}

// checkPackage finds the feature's package in the module and its
// conformance test among the package's test files.
func (m *Module) checkPackage(f Feature) error {
	rel, ok := strings.CutPrefix(f.Package, m.Path)
	if !ok || (rel != "" && rel[0] != '/') {
		return fmt.Errorf("package %s is not in module %s: name a package of this module", f.Package, m.Path)
	}
	dir := filepath.Join(m.Dir, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
	if f.ConformanceTest == "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("package %s has no directory in the module (%s)", f.Package, dir)
		}
		return nil
	}
	tests, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(tests) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("package %s has no directory in the module (%s)", f.Package, dir)
		}
		return fmt.Errorf("package %s has no test files: add the conformance test %s (it calls navius's providertest suites)", f.Package, f.ConformanceTest)
	}
	// A line-start match of the declaration is enough here: the verified
	// build runs the test itself, and go/parser would cost the builder
	// about 200 KB.
	decl := []byte("\nfunc " + f.ConformanceTest + "(")
	for _, file := range tests {
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if bytes.Contains(append([]byte{'\n'}, src...), decl) {
			return nil
		}
	}
	return fmt.Errorf("conformance_test %s is not a test of package %s: name the test that calls navius's providertest suites", f.ConformanceTest, f.Package)
}

// ModulePath returns the path of go.mod's module directive, or "".
func ModulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		rest, ok := strings.CutPrefix(line, "module")
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t' && rest[0] != '"') {
			continue
		}
		rest = strings.TrimSpace(rest)
		if unq, err := strconv.Unquote(rest); err == nil {
			return unq
		}
		return rest
	}
	return ""
}

// Check decides whether the modules can be built into navius together:
// no module twice, no feature name or provider that navius or another
// module already has, and every requirement known. Errors name the feature
// file and the fix.
func Check(nav *manifest.Manifest, mods []*Module) error {
	byPath := map[string]*Module{}
	type owner struct {
		mod  *Module
		name string
	}
	names := map[string]owner{}
	provided := map[string]owner{}
	served := map[string]owner{} // service:scheme
	for _, m := range mods {
		if byPath[m.Path] != nil {
			return fmt.Errorf("module %s is given twice: give each --with module once", m.Path)
		}
		byPath[m.Path] = m
		for _, f := range m.Features {
			if nav.Feature(f.Name) != nil {
				return fmt.Errorf("%s: feature %q clashes with navius's own feature %q: rename it, e.g. \"acme_%s\"", m.FeatureFile, f.Name, f.Name, f.Name)
			}
			if o, dup := names[f.Name]; dup {
				return fmt.Errorf("%s: feature %q is also declared by module %s (%s): rename one of them", m.FeatureFile, f.Name, o.mod.Path, o.mod.FeatureFile)
			}
			names[f.Name] = owner{m, f.Name}
			for _, p := range f.Provides {
				svc, prov, _ := strings.Cut(p, ":")
				if by := nav.Provider(svc, prov); by != "" {
					return fmt.Errorf("%s: feature %q provides %q, which navius's feature %q provides already: pick another provider name", m.FeatureFile, f.Name, p, by)
				}
				if o, dup := provided[p]; dup {
					return fmt.Errorf("%s: feature %q provides %q, which feature %q of module %s provides already: pick another provider name", m.FeatureFile, f.Name, p, o.name, o.mod.Path)
				}
				provided[p] = owner{m, f.Name}
			}
			for _, sc := range f.Schemes {
				svc, scheme, _ := strings.Cut(sc, ":")
				if by := nav.SchemeFeature(svc, scheme); by != "" {
					return fmt.Errorf("%s: feature %q serves %s URL scheme %q, which navius's feature %q serves already: pick a scheme of its own", m.FeatureFile, f.Name, svc, scheme, by)
				}
				if o, dup := served[sc]; dup {
					return fmt.Errorf("%s: feature %q serves %s URL scheme %q, which feature %q of module %s serves already: pick a scheme of its own", m.FeatureFile, f.Name, svc, scheme, o.name, o.mod.Path)
				}
				served[sc] = owner{m, f.Name}
			}
		}
	}
	for _, m := range mods {
		for _, f := range m.Features {
			for _, r := range f.Requires {
				if nav.Feature(r) == nil {
					if _, ok := names[r]; !ok {
						return fmt.Errorf("%s: feature %q requires %q, which is neither a navius feature nor one of another --with module: fix the name or add the module that provides it", m.FeatureFile, f.Name, r)
					}
				}
			}
		}
	}
	if _, err := Merge(nav, mods); err != nil {
		return err
	}
	return nil
}

// Merge returns navius's manifest with the modules' features added (not
// default, no build tag; each listing its module under modules), so that the
// one resolver handles a selection that includes them. Call Check first.
func Merge(nav *manifest.Manifest, mods []*Module) (*manifest.Manifest, error) {
	var feats []manifest.Feature
	for _, m := range mods {
		for _, f := range m.Features {
			feats = append(feats, manifest.Feature{
				Name: f.Name, Description: f.Description, Category: f.Category,
				Requires: f.Requires, Modules: []string{m.Path}, Provides: f.Provides, Schemes: f.Schemes, Module: m.Path,
			})
		}
	}
	out, err := nav.Add(feats...)
	if err != nil {
		return nil, fmt.Errorf("--with features: %v", err)
	}
	return out, nil
}

// Fetch finds the module's source: w.Dir (made absolute) for the local
// form, else the module cache directory that `go mod download -json
// MODULE@VERSION` fills ("latest" when no version is given). It returns
// the directory and the version (the resolved one for a query such as
// latest; "" for a local directory). goCmd is the go command ("go" when
// empty); env is added to its environment (GOPROXY, GOFLAGS, ...).
func (w With) Fetch(ctx context.Context, goCmd string, env []string) (dir, version string, err error) {
	if w.Dir != "" {
		abs, err := filepath.Abs(w.Dir)
		if err != nil {
			return "", "", fmt.Errorf("--with %s: %v", w, err)
		}
		return abs, w.Version, nil
	}
	if goCmd == "" {
		goCmd = "go"
	}
	version = w.Version
	if version == "" {
		version = "latest"
	}
	// Outside any module, so that navius's go.mod plays no part.
	tmp, err := os.MkdirTemp("", "navius-with-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", w.Module+"@"+version)
	cmd.Dir = tmp
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GO111MODULE=on", "GOFLAGS=-mod=mod"), env...)
	out, runErr := cmd.Output()
	var info struct {
		Version, Dir, Error string
	}
	if err := json.Unmarshal(out, &info); err != nil {
		if runErr != nil {
			return "", "", fmt.Errorf("--with %s: go mod download: %s", w, errText(runErr))
		}
		return "", "", fmt.Errorf("--with %s: go mod download: %v", w, err)
	}
	if info.Error != "" || runErr != nil || info.Dir == "" {
		msg := firstLine(info.Error, errText(runErr))
		return "", "", fmt.Errorf("--with %s: %s: check the module path and version (or give a local directory with =DIR)", w, strings.TrimPrefix(msg, w.Module+"@"+version+": "))
	}
	return info.Dir, info.Version, nil
}

// LoadWith fetches and loads the module a --with argument names, with the
// version it resolved to.
func LoadWith(ctx context.Context, w With, goCmd string, env []string) (*Module, error) {
	dir, version, err := w.Fetch(ctx, goCmd, env)
	if err != nil {
		return nil, err
	}
	m, err := w.Load(dir)
	if err != nil {
		return nil, err
	}
	m.Version = version
	m.Local = w.Dir != ""
	return m, nil
}
