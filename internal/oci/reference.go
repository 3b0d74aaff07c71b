package oci

import (
	"fmt"
	"regexp"
	"strings"
)

// Reference is an image name with a tag, as docker tag and docker run take it:
// [DOMAIN[:PORT]/]PATH[:TAG].
type Reference struct {
	Domain     string // docker.io when none was given
	Repository string // library/navius for a bare navius on docker.io
	Tag        string // latest when none was given
}

// The grammar of github.com/distribution/reference, which docker, podman and
// skopeo all apply, restated for names with a tag (no digest).
var (
	pathComponentRE   = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	domainComponentRE = regexp.MustCompile(`^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$`)
	portRE            = regexp.MustCompile(`^[0-9]+$`)
	ipv6RE            = regexp.MustCompile(`^\[[a-fA-F0-9:]+\]$`)
	tagRE             = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
)

const (
	defaultDomain = "docker.io"
	maxNameLength = 255
)

// ParseReference checks s against the reference grammar and fills in docker's
// defaults (docker.io, library/, latest). Errors are one line and say what is
// wrong.
func ParseReference(s string) (Reference, error) {
	fail := func(why string) (Reference, error) {
		return Reference{}, fmt.Errorf("invalid image reference %q: %s (e.g. navius:1.0 or registry.example.com/team/navius:1.0)", s, why)
	}
	if s == "" {
		return fail("it is empty")
	}
	if strings.Contains(s, "@") {
		return fail("a digest (@sha256:...) names existing content; give a name and tag")
	}
	name, tag := s, ""
	// The tag follows the last colon after the last slash (a colon before
	// it is a registry port).
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, tag = s[:i], s[i+1:]
		if !tagRE.MatchString(tag) {
			return fail(fmt.Sprintf("tag %q must be 1 to 128 letters, digits, _ . or -, not starting with . or -", tag))
		}
	}
	domain, path := "", name
	if i := strings.Index(name, "/"); i >= 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, path = first, name[i+1:]
		}
	}
	if domain != "" {
		if err := checkDomain(domain); err != "" {
			return fail(err)
		}
	}
	if path == "" {
		return fail("the repository name is empty")
	}
	for _, c := range strings.Split(path, "/") {
		if !pathComponentRE.MatchString(c) {
			if strings.ToLower(c) != c {
				return fail("the repository name must be lowercase")
			}
			return fail(fmt.Sprintf("repository name component %q must be lowercase letters and digits, separated by . _ __ or -", c))
		}
	}
	if len(name) > maxNameLength {
		return fail(fmt.Sprintf("the name is longer than %d characters", maxNameLength))
	}
	if domain == "" {
		domain = defaultDomain
	}
	if domain == defaultDomain && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if tag == "" {
		tag = "latest"
	}
	return Reference{Domain: domain, Repository: path, Tag: tag}, nil
}

func checkDomain(d string) string {
	host, port := d, ""
	if ipv6RE.MatchString(d) {
		return ""
	}
	if i := strings.LastIndex(d, ":"); i >= 0 && !strings.HasSuffix(d, "]") {
		host, port = d[:i], d[i+1:]
		if !portRE.MatchString(port) {
			return fmt.Sprintf("registry port %q is not a number", port)
		}
	}
	if strings.HasPrefix(host, "[") {
		if !ipv6RE.MatchString(host) {
			return fmt.Sprintf("registry %q is not a valid IPv6 address in brackets", host)
		}
		return ""
	}
	for _, c := range strings.Split(host, ".") {
		if !domainComponentRE.MatchString(c) {
			return fmt.Sprintf("registry host %q is not a valid host name", host)
		}
	}
	return ""
}

// Name is the repository with its registry, e.g. docker.io/library/navius.
func (r Reference) Name() string { return r.Domain + "/" + r.Repository }

// String is the full reference, e.g. docker.io/library/navius:1.0, as
// containerd records it.
func (r Reference) String() string { return r.Name() + ":" + r.Tag }

// Familiar is the short form docker prints, e.g. navius:1.0: without
// docker.io/ and library/.
func (r Reference) Familiar() string {
	name := r.Name()
	if r.Domain == defaultDomain {
		name = r.Repository
		if rest, ok := strings.CutPrefix(name, "library/"); ok && !strings.Contains(rest, "/") {
			name = rest
		}
	}
	return name + ":" + r.Tag
}
