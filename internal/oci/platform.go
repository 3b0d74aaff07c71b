package oci

import (
	"fmt"
	"slices"
	"strings"
)

// Platform is what an image runs on, in OCI's (and Go's) names.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// String is OS/ARCH[/VARIANT], as --platform takes it.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// GOOS and GOARCH build a binary for the platform. Every supported variant
// is Go's default for its architecture, so no GOARM or GOAMD64 is needed.
func (p Platform) GOOS() string   { return p.OS }
func (p Platform) GOARCH() string { return p.Architecture }

// supported are the platforms an image can be built for: Linux (the image's
// base files are Linux's) on the architectures Go builds static binaries
// for, with the variant Go builds by default. Aliases map to their canonical
// form, the one container engines match on.
var supported = map[string]Platform{
	"linux/386":      {OS: "linux", Architecture: "386"},
	"linux/amd64":    {OS: "linux", Architecture: "amd64"},
	"linux/arm64":    {OS: "linux", Architecture: "arm64"},
	"linux/arm64/v8": {OS: "linux", Architecture: "arm64"},
	"linux/arm":      {OS: "linux", Architecture: "arm", Variant: "v7"},
	"linux/arm/v7":   {OS: "linux", Architecture: "arm", Variant: "v7"},
	"linux/ppc64le":  {OS: "linux", Architecture: "ppc64le"},
	"linux/riscv64":  {OS: "linux", Architecture: "riscv64"},
	"linux/s390x":    {OS: "linux", Architecture: "s390x"},
}

// SupportedPlatforms lists the canonical platforms, sorted.
func SupportedPlatforms() []string {
	var out []string
	for k, p := range supported {
		if k == p.String() {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// ParsePlatforms reads a comma-separated --platform list, e.g.
// "linux/amd64,linux/arm64", keeping its order; a platform named twice (or
// by an alias of one already named) is an error.
func ParsePlatforms(list string) ([]Platform, error) {
	var out []Platform
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		p, ok := supported[s]
		if !ok {
			return nil, fmt.Errorf("unknown platform %q: images are built for %s", s, strings.Join(SupportedPlatforms(), ", "))
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("platform %s is named twice in %q", p, list)
		}
		out = append(out, p)
	}
	return out, nil
}
