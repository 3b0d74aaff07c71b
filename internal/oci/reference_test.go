package oci

import (
	"slices"
	"strings"
	"testing"
)

func TestParseReference(t *testing.T) {
	for _, c := range []struct{ in, full, familiar string }{
		{"navius", "docker.io/library/navius:latest", "navius:latest"},
		{"navius:1.2.3-abc", "docker.io/library/navius:1.2.3-abc", "navius:1.2.3-abc"},
		{"team/navius:v1", "docker.io/team/navius:v1", "team/navius:v1"},
		{"docker.io/library/navius:v1", "docker.io/library/navius:v1", "navius:v1"},
		{"registry.example.com:5000/a/b/navius:x_y.z", "registry.example.com:5000/a/b/navius:x_y.z", "registry.example.com:5000/a/b/navius:x_y.z"},
		{"localhost/navius:1", "localhost/navius:1", "localhost/navius:1"},
		{"ghcr.io/navius-dev/navius__x:1", "ghcr.io/navius-dev/navius__x:1", "ghcr.io/navius-dev/navius__x:1"},
		{"[::1]:5000/navius:1", "[::1]:5000/navius:1", "[::1]:5000/navius:1"},
	} {
		r, err := ParseReference(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if r.String() != c.full || r.Familiar() != c.familiar {
			t.Errorf("%s: full %s familiar %s, want %s %s", c.in, r.String(), r.Familiar(), c.full, c.familiar)
		}
	}
}

func TestParseReferenceErrors(t *testing.T) {
	for _, c := range []struct{ in, why string }{
		{"", "empty"},
		{"Navius:1", "lowercase"},
		{"navius:", "tag"},
		{"navius:-x", "tag"},
		{"navius:" + strings.Repeat("a", 129), "tag"},
		{"navius@sha256:0000", "digest"},
		{"navius/", "component"},
		{"-navius", "component"},
		{"na--vius__", "component"},
		{"host:port/navius", "port"},
		{"bad_host.com/navius", "host"},
		{"a b", "component"},
		{"x.io/" + strings.Repeat("a", 260), "longer"},
	} {
		_, err := ParseReference(c.in)
		if err == nil {
			t.Errorf("%q was accepted", c.in)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.why) || strings.Contains(msg, "\n") {
			t.Errorf("%q: error %q should be one line and mention %q", c.in, msg, c.why)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	ps, err := ParsePlatforms("linux/amd64, linux/arm64/v8,linux/arm")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	if want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if ps[2].GOARCH() != "arm" || ps[1].GOOS() != "linux" {
		t.Errorf("go env of %v", ps)
	}
	for _, bad := range []string{"", "linux/amd65", "windows/amd64", "linux", "linux/arm64,linux/arm64/v8", "linux/amd64,"} {
		if _, err := ParsePlatforms(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: multi-line error %q", bad, err)
		}
	}
	if _, err := ParsePlatforms("linux/amd65"); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm/v7, linux/arm64") {
		t.Errorf("the unknown-platform error should list the supported ones: %v", err)
	}
}
