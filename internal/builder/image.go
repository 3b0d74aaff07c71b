package builder

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/oci"
	"github.com/navius-dev/navius/internal/serverimage"
)

// imageFlags are package's container image options.
func imageFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.BoolFlag{Name: "image", Usage: "also write a container image archive (for docker load, podman load, skopeo) next to the tar.gz"},
		&ucli.StringFlag{Name: "platform", Usage: "with --image: build the image for each platform of `LIST`, e.g. linux/amd64,linux/arm64 (default: linux and this machine's architecture)"},
		&ucli.StringFlag{Name: "tag", Usage: "with --image: name the image `REF`, e.g. registry.example.com/navius:1.0 (default: navius:<version>-<features hash>)"},
		&ucli.StringFlag{Name: "ca-certificates", Usage: "with --image: the CA bundle `FILE` to put in the image (default: $SSL_CERT_FILE, else the system's)"},
	}
}

// imageRequest is a checked --image request: everything that can be wrong
// with it is found before anything is built.
type imageRequest struct {
	platforms []oci.Platform
	ref       *oci.Reference // nil: the default tag, known once the version is
	ca        []byte
	caFile    string
}

// parseImageRequest reads the image flags; it returns nil without --image.
// The image's platforms are --platform, else --target (which must then be
// Linux), else linux and this machine's architecture.
func parseImageRequest(c *ucli.Context) (*imageRequest, error) {
	if !c.Bool("image") {
		for _, f := range []string{"platform", "tag", "ca-certificates"} {
			if c.IsSet(f) {
				return nil, cli.Usagef("--%s goes with --image (navius package --image --%s ...)", f, f)
			}
		}
		return nil, nil
	}
	req := &imageRequest{}
	var err error
	switch {
	case c.IsSet("platform") && c.IsSet("target"):
		return nil, cli.Usagef("give --platform (the image's platforms) or --target, not both")
	case c.IsSet("platform"):
		if req.platforms, err = oci.ParsePlatforms(c.String("platform")); err != nil {
			return nil, cli.Usagef("--platform: %v", err)
		}
	case c.IsSet("target"):
		if req.platforms, err = oci.ParsePlatforms(c.String("target")); err != nil {
			return nil, cli.Usagef("--target with --image: %v", err)
		}
	default:
		host := "linux/" + runtime.GOARCH
		if req.platforms, err = oci.ParsePlatforms(host); err != nil {
			return nil, cli.Usagef("this machine's architecture has no image platform (%v); pass --platform", err)
		}
	}
	if c.IsSet("tag") {
		ref, err := oci.ParseReference(c.String("tag"))
		if err != nil {
			return nil, cli.Usagef("--tag: %v", err)
		}
		req.ref = &ref
	}
	if req.caFile, req.ca, err = serverimage.FindCACertificates(c.String("ca-certificates")); err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return req, nil
}

// imageName is the image archive's file name: one per version and label,
// holding every platform built.
func imageName(version, label string) string {
	return fmt.Sprintf("navius-%s-%s-image.tar", version, label)
}

// builtBinary is one platform's binary, ready to package.
type builtBinary struct {
	goos, goarch string
	data, sbom   []byte
}

// imageArchive writes the image of bins into outDir and returns its path,
// its file's SHA-256 and what oci wrote.
func (t *tree) imageArchive(req *imageRequest, bins []builtBinary, features []string, version, label, outDir string, created time.Time) (string, string, oci.Reference, oci.Result, error) {
	ref := req.ref
	if ref == nil {
		r, err := serverimage.DefaultRef(version, features)
		if err != nil {
			return "", "", oci.Reference{}, oci.Result{}, err
		}
		ref = &r
	}
	meta := serverimage.Meta{
		Ref: *ref, Version: version, Revision: t.revision(), Source: t.source(),
		Features: features, Created: created, CACertificates: req.ca,
	}
	var list []serverimage.Binary
	for i, b := range bins {
		list = append(list, serverimage.Binary{Platform: req.platforms[i], Data: b.data, SBOM: b.sbom})
	}
	a, err := serverimage.Archive(meta, list)
	if err != nil {
		return "", "", *ref, oci.Result{}, err
	}
	var buf bytes.Buffer
	res, err := oci.Write(&buf, a)
	if err != nil {
		return "", "", *ref, res, err
	}
	path := filepath.Join(outDir, imageName(version, label))
	if err := writeFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		return "", "", *ref, res, err
	}
	return path, sha256Hex(buf.Bytes()), *ref, res, nil
}

// source is the source tree's origin for the image's source label, without
// credentials; "" (no label) when the tree has no origin remote: a label
// naming a repository the image may not come from would mislead.
func (t *tree) source() string {
	if t.fetched != nil {
		return serverimage.CleanSource(t.fetched.URL)
	}
	return serverimage.CleanSource(t.git("remote", "get-url", "origin"))
}

// git runs git in the source tree and returns its output, "" on failure
// and for a fetched navius (git would answer for whatever repository holds
// the module cache).
func (t *tree) git(args ...string) string {
	if t.fetched != nil {
		return ""
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = t.dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
