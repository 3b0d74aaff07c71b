// Package sbom describes a Go binary as a CycloneDX 1.6 JSON bill of
// materials, from the build information the Go linker embedded in it (found
// by internal/buildinfo): the toolchain, the main module, and every module
// linked in with its version and go.sum hash. It reads the binary, not go.mod, so
// the SBOM cannot drift from what ships, and it needs no toolchain: it works
// on a binary built for any platform.
//
// The JSON is written with the standard library: the CycloneDX Go library
// would add about 720 KB to the builder (see the package test, which parses
// the output with that library).
package sbom

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/navius-dev/navius/internal/buildinfo"
)

// SpecVersion is the CycloneDX version written.
const SpecVersion = "1.6"

// MediaType is CycloneDX JSON's media type, e.g. for an OCI artifact.
const MediaType = "application/vnd.cyclonedx+json"

// Property names this package writes, in navius's namespace.
const (
	PropFeature  = "navius:feature"  // on the main component: one per compiled-in feature; on a module: a feature that brings it
	PropReplaces = "navius:replaces" // on a module: the path@version a replace directive swapped out
	PropBuild    = "navius:build:"   // prefix of the recorded build settings, e.g. navius:build:GOARCH
	// PropDirectory is on a module built from a local directory (navius
	// build --with MODULE=DIR): the directory. The component is named by
	// the module path and the version its requirement gives.
	PropDirectory = "navius:directory"
	// PropRaisedBy is on a module whose version a module from outside
	// navius raised above navius's own requirement: "MODULE (navius
	// requires VERSION)".
	PropRaisedBy = "navius:raised-by"
)

// Binary is a Go binary's build information and digest.
type Binary struct {
	Info   *debug.BuildInfo
	SHA256 string // hex
	Size   int64
}

// Read reads a Go binary from a file.
func Read(path string) (*Binary, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	b, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s %v", path, err)
	}
	return b, nil
}

// Parse reads a Go binary held in memory.
func Parse(data []byte) (*Binary, error) {
	info, err := buildinfo.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("is not a Go binary with build information (%v)", err)
	}
	sum := sha256.Sum256(data)
	return &Binary{Info: info, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}, nil
}

// Setting returns a build setting (e.g. -tags, GOARCH, vcs.revision), or "".
func (b *Binary) Setting(key string) string {
	for _, s := range b.Info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// Tags returns the build tags the binary was built with.
func (b *Binary) Tags() []string {
	var tags []string
	for _, t := range strings.Split(b.Setting("-tags"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// Options add what build information alone does not say.
type Options struct {
	// Name of the main component; default: the last element of the main
	// module's path.
	Name string
	// Version of the main component. Build information has no version for a
	// -trimpath build stamped with -X; when empty, the main module's version
	// from build information is used.
	Version string
	// Features are the features compiled in, recorded on the main component.
	Features []string
	// ModuleFeatures names, by module path, the features that bring each
	// module in ("core" for those every build has).
	ModuleFeatures map[string][]string
	// RaisedBy notes, by module path, the module from outside navius that
	// raised its version, and navius's own requirement (PropRaisedBy).
	RaisedBy map[string]string
	// Tool is the name and version of what wrote the SBOM, e.g. "navius v1.2.0".
	Tool string
	// Timestamp dates the SBOM; zero leaves it out, so the same binary gives
	// the same bytes.
	Timestamp time.Time
}

// recordedSettings are the build settings copied into the SBOM. -ldflags and
// -gcflags are left out: they can carry paths and -X values.
func recordedSetting(key string) bool {
	switch key {
	case "-buildmode", "-compiler", "-tags", "-trimpath", "-race", "-msan", "-asan", "CGO_ENABLED",
		"GOOS", "GOARCH", "GOEXPERIMENT", "GOFIPS140", "vcs", "vcs.revision", "vcs.time", "vcs.modified":
		return true
	}
	// Architecture levels: GOAMD64, GOARM, GOARM64, GO386, ...
	return strings.HasPrefix(key, "GO") && strings.ToUpper(key) == key && len(key) <= 8
}

type bom struct {
	BOMFormat    string       `json:"bomFormat"`
	SpecVersion  string       `json:"specVersion"`
	Version      int          `json:"version"`
	Metadata     metadata     `json:"metadata"`
	Components   []component  `json:"components"`
	Dependencies []dependency `json:"dependencies"`
}

type metadata struct {
	Timestamp string    `json:"timestamp,omitempty"`
	Tools     *tools    `json:"tools,omitempty"`
	Component component `json:"component"`
}

type tools struct {
	Components []component `json:"components"`
}

type component struct {
	BOMRef      string     `json:"bom-ref,omitempty"`
	Type        string     `json:"type"`
	Name        string     `json:"name"`
	Version     string     `json:"version,omitempty"`
	Description string     `json:"description,omitempty"`
	Hashes      []hash     `json:"hashes,omitempty"`
	PURL        string     `json:"purl,omitempty"`
	Properties  []property `json:"properties,omitempty"`
}

type hash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type dependency struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

// JSON returns the SBOM as indented CycloneDX JSON ending in a newline.
func (b *Binary) JSON(opts Options) ([]byte, error) {
	bi := b.Info
	name := opts.Name
	if name == "" {
		name = bi.Main.Path[strings.LastIndex(bi.Main.Path, "/")+1:]
	}
	version := opts.Version
	if version == "" {
		version = bi.Main.Version
	}
	main := component{
		Type: "application", Name: name, Version: version,
		Description: "Go binary of module " + bi.Main.Path,
		Hashes:      []hash{{Alg: "SHA-256", Content: b.SHA256}},
		PURL:        purl(bi.Main.Path, version),
	}
	main.BOMRef = main.PURL
	if bi.Main.Path == "" {
		// go build of files outside any module: build information names
		// no module, only the package path go gives them
		// (command-line-arguments), and no version. The purl names that
		// path, at "(devel)", go's version for a build of local source.
		path := orDefault(bi.Path, "command-line-arguments")
		main.Name = orDefault(opts.Name, path)
		main.Version = orDefault(opts.Version, "(devel)")
		main.Description = "Go binary built from files outside any module"
		main.PURL = purl(path, main.Version)
		main.BOMRef = main.PURL
	}
	for _, f := range opts.Features {
		main.Properties = append(main.Properties, property{PropFeature, f})
	}
	for _, s := range bi.Settings {
		if recordedSetting(s.Key) {
			main.Properties = append(main.Properties, property{PropBuild + s.Key, s.Value})
		}
	}
	goVersion, _, _ := strings.Cut(bi.GoVersion, " ")
	std := component{
		Type: "library", Name: "std", Version: goVersion,
		Description: "The Go standard library and runtime, from the toolchain that built the binary",
		PURL:        purl("std", goVersion),
	}
	std.BOMRef = std.PURL
	doc := bom{
		BOMFormat: "CycloneDX", SpecVersion: SpecVersion, Version: 1,
		Metadata:   metadata{Component: main},
		Components: []component{std},
	}
	if !opts.Timestamp.IsZero() {
		doc.Metadata.Timestamp = opts.Timestamp.UTC().Format(time.RFC3339)
	}
	if opts.Tool != "" {
		toolName, toolVersion, _ := strings.Cut(opts.Tool, " ")
		doc.Metadata.Tools = &tools{Components: []component{{Type: "application", Name: toolName, Version: toolVersion}}}
	}
	root := dependency{Ref: main.BOMRef, DependsOn: []string{std.BOMRef}}
	deps := slices.Clone(bi.Deps)
	slices.SortFunc(deps, func(x, y *debug.Module) int { return strings.Compare(x.Path, y.Path) })
	for _, d := range deps {
		c, err := moduleComponent(d, opts.ModuleFeatures[d.Path], opts.RaisedBy[d.Path])
		if err != nil {
			return nil, err
		}
		doc.Components = append(doc.Components, c)
		root.DependsOn = append(root.DependsOn, c.BOMRef)
	}
	// Build information is flat: it says what the binary links, not which
	// module needs which, so the modules' own dependencies stay unknown
	// (absent from the graph) rather than declared empty.
	doc.Dependencies = []dependency{root}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// moduleComponent describes a linked module; a module replaced by another
// is described by its replacement, the code that was linked, and one
// replaced by a directory by its own path and version, the directory a
// property.
func moduleComponent(d *debug.Module, features []string, raisedBy string) (component, error) {
	linked := d
	var props []property
	switch {
	case d.Replace != nil && isDirectory(d.Replace.Path):
		linked = &debug.Module{Path: d.Path, Version: d.Version}
		props = append(props, property{PropDirectory, d.Replace.Path})
	case d.Replace != nil:
		linked = d.Replace
		props = append(props, property{PropReplaces, d.Path + "@" + d.Version})
	}
	if raisedBy != "" {
		props = append(props, property{PropRaisedBy, raisedBy})
	}
	c := component{Type: "library", Name: linked.Path, Version: linked.Version, PURL: purl(linked.Path, linked.Version)}
	c.BOMRef = c.PURL
	if linked.Sum != "" {
		h, err := goSumSHA256(linked.Sum)
		if err != nil {
			return c, fmt.Errorf("module %s: %v", linked.Path, err)
		}
		c.Hashes = []hash{{Alg: "SHA-256", Content: h}}
	}
	for _, f := range features {
		props = append(props, property{PropFeature, f})
	}
	c.Properties = props
	return c, nil
}

// isDirectory tells a replacement by a directory (go.mod's "=> ../dir",
// recorded with the version "(devel)") from one by another module.
func isDirectory(path string) bool {
	return strings.HasPrefix(path, "/") || strings.HasPrefix(path, ".") || filepath.IsAbs(path)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// goSumSHA256 turns a go.sum hash ("h1:" and base64 of SHA-256) into hex,
// the form CycloneDX hashes take.
func goSumSHA256(sum string) (string, error) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", fmt.Errorf("go.sum hash %q is not an h1: hash", sum)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != sha256.Size {
		return "", fmt.Errorf("go.sum hash %q is not base64 of 32 bytes", sum)
	}
	return hex.EncodeToString(raw), nil
}

// purl is a package URL of type golang: pkg:golang/<module path>@<version>,
// each path segment and the version percent-encoded as the spec asks.
func purl(modPath, version string) string {
	segs := strings.Split(modPath, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	p := "pkg:golang/" + strings.Join(segs, "/")
	if version != "" {
		p += "@" + escape(version)
	}
	return p
}

// escape percent-encodes everything but letters, digits and . - _ ~.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
