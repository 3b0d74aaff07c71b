// Package serverimage lays out navius's container image: a static navius
// binary on an empty (scratch) root with only what a static Go server needs,
// run as the nonroot user 65532 the way ko and distroless do it.
//
// The image has two layers. The base layer (CA certificates, /etc/passwd and
// /etc/group, /etc/nsswitch.conf, a writable /data and /tmp) is the same for
// every feature set and platform, so registries store it once. The app layer
// holds /navius and its SBOM, /navius.cdx.json. There is no time zone data:
// navius loads no location, and Go uses UTC without it.
package serverimage

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/navius-dev/navius/internal/oci"
)

// Where things are in the image, and who runs it.
const (
	BinaryPath = "/navius"
	SBOMPath   = "/navius.cdx.json"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt" // the first file Go's crypto/x509 reads on Linux
	DataDir    = "/data"
	UID        = 65532 // nonroot, as in distroless and ko
	Port       = 8080
)

// LabelFeatures holds the comma-separated features of the image's binary.
const LabelFeatures = "dev.navius.features"

// Meta is what every platform's image of one archive shares.
type Meta struct {
	Ref oci.Reference
	// Version, Revision and Source become org.opencontainers.image.*
	// labels; Revision and Source are left out when empty.
	Version, Revision, Source string
	Features                  []string
	// Created dates the image (use SOURCE_DATE_EPOCH); it is part of the
	// digest.
	Created time.Time
	// CACertificates is a PEM bundle (see FindCACertificates).
	CACertificates []byte
}

// Binary is one platform's navius binary and its CycloneDX SBOM.
type Binary struct {
	Platform oci.Platform
	Data     []byte
	SBOM     []byte
}

// Archive returns the archive of the images of bins, in their order.
func Archive(m Meta, bins []Binary) (oci.Archive, error) {
	if len(bins) == 0 {
		return oci.Archive{}, errors.New("no binary to put in an image")
	}
	if n, err := countCertificates(m.CACertificates); err != nil {
		return oci.Archive{}, err
	} else if n == 0 {
		return oci.Archive{}, errors.New("the CA certificate bundle holds no certificate")
	}
	labels := Labels(m)
	a := oci.Archive{Ref: m.Ref, Created: m.Created, Annotations: labels}
	base := baseLayer(m.CACertificates)
	for _, b := range bins {
		if err := checkBinary(b.Data, b.Platform); err != nil {
			return oci.Archive{}, err
		}
		if len(b.SBOM) == 0 {
			return oci.Archive{}, fmt.Errorf("the %s binary has no SBOM", b.Platform)
		}
		a.Images = append(a.Images, oci.Image{
			Platform: b.Platform,
			Layers: []oci.Layer{base, {
				CreatedBy: "navius " + m.Version + " " + b.Platform.String() + " with features: " + featureList(m.Features),
				Entries: []oci.Entry{
					{Path: strings.TrimPrefix(BinaryPath, "/"), Mode: 0o755, Data: b.Data},
					{Path: strings.TrimPrefix(SBOMPath, "/"), Mode: 0o644, Data: b.SBOM},
				},
			}},
			Config:      runConfig(labels),
			Annotations: labels,
		})
	}
	return a, nil
}

// runConfig runs `navius serve` as 65532 in /data, listening on every
// interface. The entrypoint is the binary and serve is the command, so
// `docker run IMAGE --features` or `... config keys` work too.
func runConfig(labels map[string]string) oci.Config {
	return oci.Config{
		User:       fmt.Sprintf("%d:%d", UID, UID),
		Entrypoint: []string{BinaryPath},
		Cmd:        []string{"serve"},
		// A container's network is its own: inside it, navius must listen
		// beyond loopback. Like every NAVIUS_* variable this overrides a
		// config file; docker run -e NAVIUS_LISTEN=... changes it.
		Env:          []string{"PATH=/", fmt.Sprintf("NAVIUS_LISTEN=:%d", Port)},
		WorkingDir:   DataDir,
		ExposedPorts: []string{fmt.Sprintf("%d/tcp", Port)},
		Labels:       labels,
		StopSignal:   "SIGTERM",
	}
}

// Labels are the image's org.opencontainers.image.* labels and its feature
// list; they go on the config (docker inspect shows them) and as annotations
// on the manifests and index (registries show those).
func Labels(m Meta) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "navius",
		"org.opencontainers.image.description": "navius server with features: " + featureList(m.Features),
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.created":     m.Created.UTC().Format(time.RFC3339),
		LabelFeatures:                          strings.Join(m.Features, ","),
	}
	if m.Revision != "" {
		l["org.opencontainers.image.revision"] = m.Revision
	}
	if m.Source != "" {
		l["org.opencontainers.image.source"] = m.Source
	}
	return l
}

func featureList(features []string) string {
	if len(features) == 0 {
		return "none (the core alone)"
	}
	return strings.Join(features, ", ")
}

func baseLayer(caCerts []byte) oci.Layer {
	uid := fmt.Sprint(UID)
	return oci.Layer{
		CreatedBy: "navius base: CA certificates, nonroot user " + uid + ", /data",
		Entries: []oci.Entry{
			{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + uid + ":" + uid + ":nonroot:/home/nonroot:/sbin/nologin\n")},
			{Path: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnonroot:x:" + uid + ":\n")},
			// Go's resolver reads it to consult /etc/hosts before DNS.
			{Path: "etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
			{Path: strings.TrimPrefix(CAPath, "/"), Mode: 0o644, Data: caCerts},
			{Path: "root", Mode: fs.ModeDir | 0o700},
			{Path: "home/nonroot", Mode: fs.ModeDir | 0o700, UID: UID, GID: UID},
			{Path: strings.TrimPrefix(DataDir, "/"), Mode: fs.ModeDir | 0o755, UID: UID, GID: UID},
			{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		},
	}
}

// elfMachines are the ELF e_machine values of the platforms oci supports.
var elfMachines = map[string]uint16{
	"386": 3, "amd64": 62, "arm": 40, "arm64": 183, "ppc64le": 21, "riscv64": 243, "s390x": 22,
}

// checkBinary refuses a binary that would not start in the image: not a
// Linux ELF executable of the platform's architecture, or dynamically linked
// (scratch has no loader and no libc). It reads the ELF header and program
// headers itself: debug/elf would add about 300 KB of name tables to the
// builder for these few fields.
func checkBinary(data []byte, p oci.Platform) error {
	h, err := readELF(data)
	if err != nil {
		return fmt.Errorf("the %s binary is not an ELF executable: %v", p, err)
	}
	if want, ok := elfMachines[p.Architecture]; !ok || h.machine != want {
		return fmt.Errorf("the %s binary is built for another architecture (ELF machine %d, want %d)", p, h.machine, elfMachines[p.Architecture])
	}
	if h.interp {
		return fmt.Errorf("the %s binary is dynamically linked, and the image has no libc: build it with CGO_ENABLED=0", p)
	}
	return nil
}

type elfHeader struct {
	machine uint16
	interp  bool // has a PT_INTERP program header: needs a dynamic loader
}

// readELF reads the fields of an ELF executable that checkBinary needs.
func readELF(b []byte) (elfHeader, error) {
	var h elfHeader
	if len(b) < 52 || string(b[:4]) != "\x7fELF" {
		return h, errors.New("no ELF magic")
	}
	var bo binary.ByteOrder
	switch b[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return h, errors.New("unknown ELF byte order")
	}
	const etExec, etDyn, ptInterp = 2, 3, 3
	if t := bo.Uint16(b[16:]); t != etExec && t != etDyn {
		return h, fmt.Errorf("ELF type %d is not an executable", t)
	}
	h.machine = bo.Uint16(b[18:])
	var phoff uint64
	var phentsize, phnum uint16
	switch b[4] {
	case 1: // 32-bit
		phoff, phentsize, phnum = uint64(bo.Uint32(b[28:])), bo.Uint16(b[42:]), bo.Uint16(b[44:])
	case 2: // 64-bit
		if len(b) < 64 {
			return h, errors.New("truncated ELF header")
		}
		phoff, phentsize, phnum = bo.Uint64(b[32:]), bo.Uint16(b[54:]), bo.Uint16(b[56:])
	default:
		return h, errors.New("unknown ELF class")
	}
	if phentsize < 4 {
		return h, errors.New("bad program header size")
	}
	for i := uint64(0); i < uint64(phnum); i++ {
		off := phoff + i*uint64(phentsize)
		if off+4 > uint64(len(b)) || off+4 < off {
			return h, errors.New("program headers past the end of the file")
		}
		if bo.Uint32(b[off:]) == ptInterp {
			h.interp = true
		}
	}
	return h, nil
}

// DefaultRef is navius:<version>-<features hash>: one tag per version and
// feature set, so images of different feature sets never overwrite each
// other.
func DefaultRef(version string, features []string) (oci.Reference, error) {
	v := invalidTagChars.ReplaceAllString(version, "-")
	v = strings.TrimLeft(v, ".-")
	if v == "" {
		v = "dev"
	}
	tag := v + "-" + FeaturesHash(features)
	if len(tag) > 128 {
		tag = tag[len(tag)-128:]
		tag = strings.TrimLeft(tag, ".-")
	}
	return oci.ParseReference("navius:" + tag)
}

var invalidTagChars = regexp.MustCompile(`[^\w.-]`)

// FeaturesHash is a short digest of a feature set: the first 8 hex digits
// of the SHA-256 of the sorted names joined by commas.
func FeaturesHash(features []string) string {
	f := slices.Clone(features)
	slices.Sort(f)
	sum := sha256.Sum256([]byte(strings.Join(f, ",")))
	return hex.EncodeToString(sum[:4])
}

// caFiles are where Linux distributions and macOS keep the system's CA
// bundle, in the order Go's crypto/x509 looks.
var caFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine, macOS, BSDs
}

// FindCACertificates returns the CA bundle to put in the image: the file
// given (a --ca-certificates flag), else SSL_CERT_FILE, else the system's.
// The bundle is part of the image digest: the same bundle gives the same
// image.
func FindCACertificates(given string) (path string, data []byte, err error) {
	candidates := caFiles
	switch {
	case given != "":
		candidates = []string{given}
	case os.Getenv("SSL_CERT_FILE") != "":
		candidates = []string{os.Getenv("SSL_CERT_FILE")}
	}
	for _, c := range candidates {
		data, err := os.ReadFile(c)
		if err != nil {
			if given != "" {
				return "", nil, fmt.Errorf("CA certificates %s: %v", given, err)
			}
			continue
		}
		n, err := countCertificates(data)
		if err != nil || n == 0 {
			return "", nil, fmt.Errorf("CA certificates %s: not a PEM bundle of certificates", c)
		}
		return c, data, nil
	}
	return "", nil, fmt.Errorf("no CA certificate bundle found (looked in %s): install your system's ca-certificates package or pass --ca-certificates FILE", strings.Join(candidates, ", "))
}

// countCertificates counts the certificates of a PEM bundle; a block that is
// not a parsable certificate is an error.
func countCertificates(data []byte) (int, error) {
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return n, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return n, fmt.Errorf("CA bundle certificate %d: %v", n+1, err)
		}
		n++
	}
}

// CleanSource turns a git remote into a URL fit for the source label:
// credentials are dropped (they must never reach an image), and an scp-like
// git@host:path becomes https://host/path. It returns "" for what it cannot
// read.
func CleanSource(remote string) string {
	remote = strings.TrimSpace(remote)
	if remote == "" {
		return ""
	}
	if !strings.Contains(remote, "://") {
		// git@github.com:org/repo.git
		at := strings.LastIndex(remote, "@")
		host, path, ok := strings.Cut(remote[at+1:], ":")
		if !ok || host == "" || path == "" {
			return ""
		}
		remote = "https://" + host + "/" + strings.TrimPrefix(path, "/")
	}
	u, err := url.Parse(remote)
	if err != nil || u.Host == "" {
		return ""
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	if u.Scheme == "ssh" || u.Scheme == "git" {
		u.Scheme = "https"
		u.Host = u.Hostname()
	}
	return strings.TrimSuffix(u.String(), ".git")
}
