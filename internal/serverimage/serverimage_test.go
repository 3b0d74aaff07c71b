package serverimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/oci"
	"github.com/navius-dev/navius/internal/tartest"
)

var (
	amd64 = oci.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = oci.Platform{OS: "linux", Architecture: "arm64"}
)

// testCA is a PEM bundle of one freshly made certificate.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(4e9, 0), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

var (
	helloMu sync.Mutex
	hello   = map[string][]byte{}
)

// helloFor builds testdata/hello, a static binary, for a platform.
func helloFor(t *testing.T, p oci.Platform) []byte {
	t.Helper()
	helloMu.Lock()
	defer helloMu.Unlock()
	if b, ok := hello[p.String()]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), "hello")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.GOOS(), "GOARCH="+p.GOARCH())
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build hello for %s: %v\n%s", p, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	hello[p.String()] = b
	return b
}

func meta(t *testing.T, features ...string) Meta {
	t.Helper()
	ref, err := DefaultRef("v1.2.3", features)
	if err != nil {
		t.Fatal(err)
	}
	return Meta{Ref: ref, Version: "v1.2.3", Revision: "abc123", Source: "https://github.com/navius-dev/navius",
		Features: features, Created: time.Unix(1700000000, 0), CACertificates: testCA(t)}
}

type image struct {
	digest string
	config struct {
		Architecture string
		Config       struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Env          []string
			WorkingDir   string
			ExposedPorts map[string]struct{}
			Labels       map[string]string
		} `json:"config"`
	}
	layers      []string               // digests
	files       map[string]*tar.Header // across layers
	data        map[string][]byte
	annotations map[string]string
}

// open reads a single-platform archive back.
func open(t *testing.T, a oci.Archive) image {
	t.Helper()
	var buf bytes.Buffer
	res, err := oci.Write(&buf, a)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	tartest.Each(t, &buf, func(h *tar.Header, b []byte) {
		blobs[strings.TrimPrefix(h.Name, "blobs/sha256/")] = b
	})
	get := func(d string, v any) []byte {
		b := blobs[strings.TrimPrefix(d, "sha256:")]
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	var m struct {
		Config      struct{ Digest string }
		Layers      []struct{ Digest string }
		Annotations map[string]string
	}
	get(res.Digest, &m)
	img := image{digest: res.Digest, files: map[string]*tar.Header{}, data: map[string][]byte{}, annotations: m.Annotations}
	get(m.Config.Digest, &img.config)
	for _, l := range m.Layers {
		img.layers = append(img.layers, l.Digest)
		zr, err := gzip.NewReader(bytes.NewReader(get(l.Digest, nil)))
		if err != nil {
			t.Fatal(err)
		}
		tartest.Each(t, zr, func(h *tar.Header, b []byte) {
			img.files[h.Name] = h
			img.data[h.Name] = b
		})
	}
	return img
}

func TestImage(t *testing.T) {
	m := meta(t, "bolt", "memory")
	bin := helloFor(t, amd64)
	a, err := Archive(m, []Binary{{Platform: amd64, Data: bin, SBOM: []byte(`{"bomFormat":"CycloneDX"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	img := open(t, a)
	c := img.config.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/navius" || strings.Join(c.Cmd, " ") != "serve" || c.WorkingDir != "/data" {
		t.Errorf("run config %+v", c)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || !strings.Contains(strings.Join(c.Env, " "), "NAVIUS_LISTEN=:8080") {
		t.Errorf("port %v env %v", c.ExposedPorts, c.Env)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.revision": "abc123",
		"org.opencontainers.image.source":   "https://github.com/navius-dev/navius",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
		LabelFeatures:                       "bolt,memory",
	} {
		if c.Labels[k] != want || img.annotations[k] != want {
			t.Errorf("label %s = %q, annotation %q, want %q", k, c.Labels[k], img.annotations[k], want)
		}
	}
	if !bytes.Equal(img.data["navius"], bin) || img.files["navius"].Mode != 0o755 {
		t.Error("/navius is not the binary, mode 0755")
	}
	if string(img.data["navius.cdx.json"]) != `{"bomFormat":"CycloneDX"}` {
		t.Error("/navius.cdx.json is not the SBOM")
	}
	if !bytes.Equal(img.data["etc/ssl/certs/ca-certificates.crt"], m.CACertificates) {
		t.Error("the CA bundle is not at /etc/ssl/certs/ca-certificates.crt")
	}
	if !strings.Contains(string(img.data["etc/passwd"]), "nonroot:x:65532:65532:") || !strings.Contains(string(img.data["etc/group"]), "nonroot:x:65532:") {
		t.Errorf("passwd %q group %q", img.data["etc/passwd"], img.data["etc/group"])
	}
	if d := img.files["data/"]; d == nil || d.Uid != UID || d.Gid != UID || d.Typeflag != tar.TypeDir {
		t.Errorf("/data: %+v", d)
	}
	for name := range img.files {
		if strings.Contains(name, "zoneinfo") {
			t.Errorf("time zone data %s in the image", name)
		}
	}
	if len(img.layers) != 2 {
		t.Fatalf("%d layers, want base and app", len(img.layers))
	}
	// The base layer is shared by every feature set and platform; the app
	// layer is not.
	other := meta(t, "memory")
	other.CACertificates = m.CACertificates
	a2, err := Archive(other, []Binary{{Platform: amd64, Data: append(bin[:len(bin):len(bin)], 0), SBOM: []byte("{}")}})
	if err != nil {
		t.Fatal(err)
	}
	img2 := open(t, a2)
	if img2.layers[0] != img.layers[0] || img2.layers[1] == img.layers[1] || img2.digest == img.digest {
		t.Errorf("layers %v vs %v", img.layers, img2.layers)
	}
}

func TestRefusesWhatWouldNotRun(t *testing.T) {
	m := meta(t, "memory")
	sbom := []byte("{}")
	for name, bins := range map[string][]Binary{
		"wrong architecture": {{Platform: arm64, Data: helloFor(t, amd64), SBOM: sbom}},
		"not ELF":            {{Platform: amd64, Data: []byte("#!/bin/sh\n"), SBOM: sbom}},
		"no SBOM":            {{Platform: amd64, Data: helloFor(t, amd64)}},
		"no binary":          {},
	} {
		if _, err := Archive(m, bins); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", name, err)
		}
	}
	if ls, err := os.ReadFile("/bin/ls"); err == nil { // a dynamically linked ELF on this machine
		if _, err := Archive(m, []Binary{{Platform: amd64, Data: ls, SBOM: sbom}}); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("a dynamic binary: %v", err)
		}
	}
	m.CACertificates = []byte("not pem")
	if _, err := Archive(m, []Binary{{Platform: amd64, Data: helloFor(t, amd64), SBOM: sbom}}); err == nil {
		t.Error("a bundle without certificates was accepted")
	}
}

func TestMultiPlatformImage(t *testing.T) {
	m := meta(t, "memory")
	a, err := Archive(m, []Binary{
		{Platform: amd64, Data: helloFor(t, amd64), SBOM: []byte("{}")},
		{Platform: arm64, Data: helloFor(t, arm64), SBOM: []byte("{}")},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := oci.Write(io.Discard, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Manifests) != 2 || res.Manifests[1].Platform.Architecture != "arm64" {
		t.Errorf("manifests %+v", res.Manifests)
	}
}

func TestDefaultRef(t *testing.T) {
	a, err := DefaultRef("v1.2.3-4-gabcdef-dirty", []string{"memory", "bolt"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DefaultRef("v1.2.3-4-gabcdef-dirty", []string{"bolt", "memory"})
	c, _ := DefaultRef("v1.2.3-4-gabcdef-dirty", []string{"bolt"})
	if a != b || a == c {
		t.Errorf("the tag should depend on the feature set, not its order: %s %s %s", a.Familiar(), b.Familiar(), c.Familiar())
	}
	if !strings.HasPrefix(a.Familiar(), "navius:v1.2.3-4-gabcdef-dirty-") || len(a.Tag) != len("v1.2.3-4-gabcdef-dirty-")+8 {
		t.Errorf("tag %s", a.Familiar())
	}
	for _, v := range []string{"0.0.0-dev+meta", "", "-x", strings.Repeat("v", 200), "a/b c"} {
		if _, err := DefaultRef(v, nil); err != nil {
			t.Errorf("version %q: %v", v, err)
		}
	}
}

func TestFindCACertificates(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, testCA(t), 0o644)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("nothing"), 0o644)
	if p, data, err := FindCACertificates(good); err != nil || p != good || len(data) == 0 {
		t.Errorf("given file: %s %v", p, err)
	}
	for _, f := range []string{bad, filepath.Join(dir, "missing")} {
		if _, _, err := FindCACertificates(f); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("%s: %v", f, err)
		}
	}
	t.Setenv("SSL_CERT_FILE", good)
	if p, _, err := FindCACertificates(""); err != nil || p != good {
		t.Errorf("SSL_CERT_FILE: %s %v", p, err)
	}
	t.Setenv("SSL_CERT_FILE", filepath.Join(dir, "missing"))
	if _, _, err := FindCACertificates(""); err == nil || !strings.Contains(err.Error(), "--ca-certificates") {
		t.Errorf("a missing SSL_CERT_FILE: %v", err)
	}
}

func TestCleanSource(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/navius-dev/navius.git":             "https://github.com/navius-dev/navius",
		"https://user:s3cret@github.com/navius-dev/navius.git": "https://github.com/navius-dev/navius",
		"git@github.com:navius-dev/navius.git":                 "https://github.com/navius-dev/navius",
		"ssh://git@gitlab.example.com:2222/team/navius":        "https://gitlab.example.com/team/navius",
		"https://host/x?token=abc#frag":                        "https://host/x",
		"/srv/git/navius":                                      "",
		"":                                                     "",
	} {
		if got := CleanSource(in); got != want {
			t.Errorf("CleanSource(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReadELFAgreesWithDebugELF checks the small ELF reader against the
// standard library's on static Go binaries of two architectures and on a
// dynamically linked system binary.
func TestReadELFAgreesWithDebugELF(t *testing.T) {
	bins := map[string][]byte{"hello amd64": helloFor(t, amd64), "hello arm64": helloFor(t, arm64)}
	if ls, err := os.ReadFile("/bin/ls"); err == nil {
		bins["/bin/ls"] = ls
	}
	for name, data := range bins {
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		interp := slices.ContainsFunc(f.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP })
		h, err := readELF(data)
		if err != nil || h.machine != uint16(f.Machine) || h.interp != interp {
			t.Errorf("%s: read machine %d interp %v (%v); debug/elf: %d %v", name, h.machine, h.interp, err, f.Machine, interp)
		}
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"script":    []byte("#!/bin/sh\n" + strings.Repeat(" ", 64)),
		"truncated": helloFor(t, amd64)[:40],
		"phdrs cut": helloFor(t, amd64)[:70],
	} {
		if _, err := readELF(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
