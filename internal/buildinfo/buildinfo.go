// Package buildinfo records what went into this binary: the features whose
// gate files were compiled in (they call MarkCompiled from init), features
// from other modules (the import file navius build --with generates calls
// AddModuleFeature), the stamped version, and what the Go toolchain recorded
// (build tags, module versions and replacements, VCS revision).
package buildinfo

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/navius-dev/navius/internal/manifest"
)

// Stamped at link time by scripts/build:
// -X github.com/navius-dev/navius/internal/buildinfo.Version=...
var (
	Version  = "dev"
	Revision = ""
)

var (
	mu       sync.Mutex
	compiled []string
	external []ModuleFeature
)

// ModuleFeature is a feature from another Go module, built in by navius
// build --with: what its feature file declares, and the module.
type ModuleFeature struct {
	Name        string
	Description string
	Category    string
	Provides    []string
	Requires    []string
	Schemes     []string
	// Module is the module's path; its version and replacement are in the
	// build information (Info.Modules, Info.Replaced).
	Module string
	// Modules are the modules the feature brings into the binary: its own
	// module first, then those its package needs that navius's core does
	// not (what features.json lists for navius's own features).
	Modules []string `json:",omitempty"`
}

// WithRecord is what navius build --with writes into a binary, as one JSON
// string that `navius sbom` finds in the binary's bytes without running it
// (ReadWithRecord): the features from other modules and the versions of
// navius's own dependencies that those modules raised.
type WithRecord struct {
	Features []ModuleFeature
	Raised   []Raise `json:",omitempty"`
}

// Raise is a module whose version a module from outside navius raised
// above navius's own requirement.
type Raise struct {
	Path, From, To string
	// By names the module that requires To.
	By string
}

// withRecordMagic starts the record's string in the binary. It is made at
// run time, so that this package's own copy of it is not contiguous in a
// binary and is never taken for a record.
func withRecordMagic() string { return "navius-with-" + "record/v1 " }

// WithRecordString is the string navius build --with embeds: the magic,
// then the record as JSON.
func WithRecordString(r WithRecord) (string, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	return withRecordMagic() + string(data), nil
}

// AddWithRecord records the features of a record made by WithRecordString
// (AddModuleFeature for each). The import file navius build --with
// generates calls it from init with the embedded string, which keeps the
// string in the binary.
func AddWithRecord(s string) {
	data, ok := strings.CutPrefix(s, withRecordMagic())
	var r WithRecord
	if !ok || json.Unmarshal([]byte(data), &r) != nil {
		panic("buildinfo: a malformed --with record: " + s)
	}
	for _, f := range r.Features {
		AddModuleFeature(f)
	}
}

// ReadWithRecord finds the --with record in a binary's bytes; false when it
// has none.
func ReadWithRecord(binary []byte) (WithRecord, bool) {
	magic := []byte(withRecordMagic())
	for rest := binary; ; {
		i := bytes.Index(rest, magic)
		if i < 0 {
			return WithRecord{}, false
		}
		rest = rest[i+len(magic):]
		var r WithRecord
		if json.NewDecoder(bytes.NewReader(rest)).Decode(&r) == nil && len(r.Features) > 0 {
			return r, true
		}
	}
}

// AddModuleFeature records a feature from another module and marks it
// compiled. The import file navius build --with generates calls it from
// init, after the module's package registered its providers.
func AddModuleFeature(f ModuleFeature) {
	MarkCompiled(f.Name)
	mu.Lock()
	defer mu.Unlock()
	external = append(external, f)
	sort.Slice(external, func(i, j int) bool { return external[i].Name < external[j].Name })
}

// ModuleFeatures returns the features from other modules, sorted by name.
func ModuleFeatures() []ModuleFeature {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(external)
}

// Rebuild says how to build this binary again with add: FEATURES= with
// navius's features it carries plus add, and, when it carries features from
// other modules, the WITH= (as make build takes it) that brings them back.
// compiled are the binary's features (Compiled()).
func Rebuild(compiled []string, add ...string) string {
	var own []string
	for _, c := range compiled {
		if !slices.ContainsFunc(ModuleFeatures(), func(f ModuleFeature) bool { return f.Name == c }) {
			own = append(own, c)
		}
	}
	s := "FEATURES=" + manifest.RebuildSpec(own, add...)
	if with := WithArgs(); len(with) > 0 {
		s += ` WITH="` + strings.Join(with, " ") + `"`
	}
	return s
}

// WithArgs are the --with arguments that bring this binary's features from
// other modules back: each module's replacement directory, else its version.
func WithArgs() []string {
	info := Read()
	var out []string
	for _, f := range ModuleFeatures() {
		arg := f.Module + "@" + info.Modules[f.Module]
		if dir := info.Replaced[f.Module]; dir != "" && !strings.Contains(dir, "@") {
			arg = f.Module + "=" + dir
		}
		if !slices.Contains(out, arg) {
			out = append(out, arg)
		}
	}
	return out
}

// MarkCompiled records that feature's gate file is in this binary. Gate files
// call it from init().
func MarkCompiled(feature string) {
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(compiled, feature) {
		compiled = append(compiled, feature)
		sort.Strings(compiled)
	}
}

// Compiled returns the features whose gate files ran, sorted.
func Compiled() []string {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(compiled)
}

// Info is what the toolchain and the linker stamped into the binary.
type Info struct {
	Version   string            `json:"version"`
	GoVersion string            `json:"go_version"`
	Revision  string            `json:"vcs_revision,omitempty"`
	Modified  bool              `json:"vcs_modified,omitempty"`
	Tags      []string          `json:"build_tags"`
	Platform  string            `json:"platform"`
	Modules   map[string]string `json:"-"` // module path -> version ("(devel)" for a directory)
	// Replaced maps a module path to its replacement: a directory, or
	// path@version. navius's own go.mod replaces nothing, so a replaced
	// module is one navius build --with MODULE=DIR built in.
	Replaced map[string]string `json:"-"`
	// Main is the main module's path (github.com/navius-dev/navius for a
	// navius build from its own tree).
	Main string `json:"-"`
}

// Read returns the binary's build information.
func Read() Info {
	info := Info{
		Version:   Version,
		GoVersion: runtime.Version(),
		Revision:  Revision,
		Tags:      []string{},
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		Modules:   map[string]string{},
		Replaced:  map[string]string{},
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.fill(bi)
	}
	return info
}

// ReadFile returns the build information of the Go binary at path without
// running it, so it works for a binary of any platform (one copied back from
// a server, say). The version is the one the build stamped with -ldflags -X,
// else the main module's.
func ReadFile(path string) (Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Info{}, err
	}
	bi, err := Parse(data)
	if err != nil {
		return Info{}, err
	}
	info := Info{GoVersion: bi.GoVersion, Tags: []string{}, Modules: map[string]string{}, Replaced: map[string]string{}}
	info.fill(bi)
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		case "-ldflags":
			info.Version = stamped(s.Value, "Version")
			if info.Revision == "" {
				info.Revision = stamped(s.Value, "Revision")
			}
		}
	}
	info.Platform = goos + "/" + goarch
	if info.Version == "" {
		info.Version = "dev"
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
	}
	return info, nil
}

// stamped finds "-X <this package>.name=value" in -ldflags.
func stamped(ldflags, name string) string {
	prefix := "github.com/navius-dev/navius/internal/buildinfo." + name + "="
	for _, f := range strings.Fields(ldflags) {
		if v, ok := strings.CutPrefix(strings.Trim(f, `'"`), prefix); ok {
			return v
		}
	}
	return ""
}

// fill takes the tags, VCS facts, modules and main module from bi.
func (info *Info) fill(bi *debug.BuildInfo) {
	info.Main = bi.Main.Path
	for _, s := range bi.Settings {
		switch s.Key {
		case "-tags":
			for _, t := range strings.Split(s.Value, ",") {
				if t = strings.TrimSpace(t); t != "" {
					info.Tags = append(info.Tags, t)
				}
			}
		case "vcs.revision":
			if info.Revision == "" {
				info.Revision = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		version := d.Version
		if r := d.Replace; r != nil {
			version = r.Version
			info.Replaced[d.Path] = r.Path
			if r.Version == "" || r.Version == "(devel)" {
				version = "(devel)" // a directory
			} else {
				info.Replaced[d.Path] += "@" + r.Version
			}
		}
		info.Modules[d.Path] = version
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version // go install module@version
	}
}
