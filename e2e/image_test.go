package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/oci"
	"github.com/navius-dev/navius/internal/serverimage"
)

// These tests build real navius binaries, put them in images with
// internal/serverimage and internal/oci, and hand the archives to the tools
// that consume them: skopeo and umoci always (make test installs them),
// docker where an engine runs.

// imageEpoch stands for SOURCE_DATE_EPOCH.
var imageEpoch = time.Unix(1700000000, 0).UTC()

// execOut runs a command and returns its stdout; a failure fails the test.
func execOut(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed: apt-get install -y %s (make test installs it)", name, name)
	}
}

// buildFor builds FEATURES=spec for a platform into dir, the way make build
// does, with the e2e version stamp.
func buildFor(t *testing.T, spec string, p oci.Platform, dir string) (string, manifest.Selection) {
	t.Helper()
	sel, err := loadManifest(t).Resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "navius")
	plan, err := build.NewPlan(build.Options{Source: root, Selection: sel, Output: out, GOOS: p.GOOS(), GOARCH: p.GOARCH(), Version: "v0.0.0-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if _, err := plan.Run(context.Background(), &log); err != nil {
		t.Fatalf("%s: %v\n%s", plan.Command(), err, log.String())
	}
	return out, sel
}

// sbomVia asks tool (a build with the builder) for bin's SBOM.
func sbomVia(t *testing.T, tool, bin string) []byte {
	t.Helper()
	return []byte(execOut(t, "", nil, tool, "sbom", bin))
}

// imageOf writes the image archive of bins (one per platform) into dir and
// returns its path and digest.
func imageOf(t *testing.T, dir string, sel manifest.Selection, bins map[oci.Platform]string, order ...oci.Platform) (string, oci.Result) {
	t.Helper()
	tool, _ := binary(t, "default")
	_, ca, err := serverimage.FindCACertificates("")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := serverimage.DefaultRef("v0.0.0-e2e", sel.Features)
	if err != nil {
		t.Fatal(err)
	}
	meta := serverimage.Meta{Ref: ref, Version: "v0.0.0-e2e", Revision: "e2e", Source: "https://github.com/navius-dev/navius",
		Features: sel.Features, Created: imageEpoch, CACertificates: ca}
	var list []serverimage.Binary
	for _, p := range order {
		data, err := os.ReadFile(bins[p])
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, serverimage.Binary{Platform: p, Data: data, SBOM: sbomVia(t, tool, bins[p])})
	}
	a, err := serverimage.Archive(meta, list)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "navius-image.tar")
	res, err := oci.WriteFile(file, a)
	if err != nil {
		t.Fatal(err)
	}
	return file, res
}

// hostPlatform is the image platform whose binary runs here.
var hostPlatform = oci.Platform{OS: "linux", Architecture: runtime.GOARCH}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the image tests run the image's Linux binary: they need a Linux machine")
	}
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

type skopeoInfo struct {
	Digest       string
	Architecture string
	Os           string
	Layers       []string
	Labels       map[string]string
}

func skopeoInspect(t *testing.T, args ...string) skopeoInfo {
	t.Helper()
	needTool(t, "skopeo")
	var info skopeoInfo
	if err := json.Unmarshal([]byte(execOut(t, "", nil, "skopeo", append([]string{"inspect"}, args...)...)), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// unpack extracts the archive's layout and unpacks the image named tag with
// umoci into a bundle (rootfs/ and config.json).
func unpack(t *testing.T, layoutDir, tag string) string {
	t.Helper()
	needTool(t, "umoci")
	bundle := filepath.Join(t.TempDir(), "bundle")
	execOut(t, "", nil, "umoci", "unpack", "--rootless", "--image", layoutDir+":"+tag, bundle)
	return bundle
}

// extractLayout unpacks the archive tar into a directory (umoci reads a
// layout directory, not a tar).
func extractLayout(t *testing.T, file string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runtimeSpec is the part of umoci's config.json the tests read.
type runtimeSpec struct {
	Process struct {
		User struct{ UID, GID int }
		Args []string
		Env  []string
		Cwd  string
	}
}

func TestImageArchive(t *testing.T) {
	skipUnlessLinux(t)
	bin, sel := binary(t, "default")
	work := t.TempDir()
	start := time.Now()
	file, res := imageOf(t, work, sel, map[oci.Platform]string{hostPlatform: bin}, hostPlatform)
	st, _ := os.Stat(file)
	bst, _ := os.Stat(bin)
	t.Logf("image archive %d bytes for a %d-byte binary (written in %v); compressed layers %d bytes",
		st.Size(), bst.Size(), time.Since(start).Round(time.Millisecond), res.LayerBytes[0])

	// skopeo reads both forms.
	info := skopeoInspect(t, "oci-archive:"+file)
	if info.Digest != res.Digest || info.Architecture != hostPlatform.Architecture || info.Os != "linux" || len(info.Layers) != 2 {
		t.Errorf("skopeo inspect oci-archive: %+v (wrote %s)", info, res.Digest)
	}
	if got := info.Labels[serverimage.LabelFeatures]; got != strings.Join(sel.Features, ",") {
		t.Errorf("features label %q, want %q", got, strings.Join(sel.Features, ","))
	}
	for _, k := range []string{"version", "revision", "source", "created"} {
		if info.Labels["org.opencontainers.image."+k] == "" {
			t.Errorf("no org.opencontainers.image.%s label: %v", k, info.Labels)
		}
	}
	if d := skopeoInspect(t, "docker-archive:"+file); d.Architecture != hostPlatform.Architecture || len(d.Layers) != 2 {
		t.Errorf("skopeo inspect docker-archive: %+v", d)
	}
	var cfg struct {
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			WorkingDir string
			Env        []string
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(execOut(t, "", nil, "skopeo", "inspect", "--config", "oci-archive:"+file)), &cfg); err != nil {
		t.Fatal(err)
	}
	if c := cfg.Config; c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/navius"}) || !slices.Equal(c.Cmd, []string{"serve"}) || c.WorkingDir != "/data" {
		t.Errorf("image config %+v", c)
	}

	// umoci unpacks it; the binary runs from the root file system.
	ref, _ := serverimage.DefaultRef("v0.0.0-e2e", sel.Features)
	bundle := unpack(t, extractLayout(t, file), ref.Tag)
	rootfs := filepath.Join(bundle, "rootfs")
	var spec runtimeSpec
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &spec)
	if p := spec.Process; p.User.UID != 65532 || p.User.GID != 65532 || strings.Join(p.Args, " ") != "/navius serve" || p.Cwd != "/data" {
		t.Errorf("runtime spec process %+v", p)
	}
	hostCA, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if got, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")); err != nil || !bytes.Equal(got, hostCA) {
		t.Errorf("the CA bundle in the image differs from the host's (%v)", err)
	}
	navius := filepath.Join(rootfs, "navius")
	if got := reportedFeaturesOf(t, navius); !slices.Equal(got, sel.Features) {
		t.Errorf("the unpacked binary reports %v, packaged %v", got, sel.Features)
	}
	checkImageSBOM(t, rootfs)
	p := serveAsImage(t, navius, filepath.Join(rootfs, "data"), spec.Process.Env)
	if code := httpStatus(t, p.URL+"/readyz"); code != 200 {
		t.Errorf("GET /readyz from the unpacked binary: %d", code)
	}
	if !strings.Contains(p.logs.String(), "authentication is off and the listener is not loopback") {
		t.Errorf("the image's all-interfaces listener should log the auth warning:\n%s", p.logs.String())
	}
	p.stop(t)

	dockerLoadAndRun(t, file, ref)
}

func reportedFeaturesOf(t *testing.T, bin string) []string {
	t.Helper()
	var rep struct {
		Features []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(execOut(t, t.TempDir(), nil, bin, "--features", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, f := range rep.Features {
		names = append(names, f.Name)
	}
	return names
}

// checkImageSBOM reads /navius.cdx.json and checks it describes /navius.
func checkImageSBOM(t *testing.T, rootfs string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rootfs, "navius.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc := parseSBOM(t, data)
	bin, _ := os.ReadFile(filepath.Join(rootfs, "navius"))
	sum := sha256.Sum256(bin)
	if h := doc.Metadata.Component.Hashes; h == nil || (*h)[0].Value != hex.EncodeToString(sum[:]) {
		t.Errorf("the image's SBOM names hash %v, /navius is %x", h, sum)
	}
}

func parseSBOM(t *testing.T, data []byte) *cdx.BOM {
	t.Helper()
	var doc cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&doc); err != nil {
		t.Fatalf("the CycloneDX library cannot parse the SBOM: %v", err)
	}
	return &doc
}

// serveAsImage starts bin serve in dir with the image's environment, the
// port of NAVIUS_LISTEN changed to 0 (any free one) so parallel runs do not
// collide; the host part (every interface) stays the image's.
func serveAsImage(t *testing.T, bin, dir string, env []string) *proc {
	t.Helper()
	var listen string
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "NAVIUS_LISTEN="); ok {
			host, _, _ := strings.Cut(v, ":")
			listen = host + ":0"
			env[i] = "NAVIUS_LISTEN=" + listen
		}
	}
	if listen != ":0" {
		t.Fatalf("the image's NAVIUS_LISTEN should name every interface, got env %v", env)
	}
	cmd := exec.Command(bin, "serve", "--log-format", "json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			var e struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "navius is serving" {
				addr <- e.Addr
			}
		}
	}()
	go func() { <-scanned; p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		_, port, _ := strings.Cut(a[strings.LastIndex(a, "]")+1:], ":")
		if strings.HasPrefix(a, "127.") {
			t.Errorf("the image's listener is loopback only: %s", a)
		}
		p.URL = "http://127.0.0.1:" + port
	case err := <-p.done:
		t.Fatalf("navius exited before serving: %v\n%s", err, p.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("navius did not serve within 20s\n%s", p.logs.String())
	}
	return p
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// dockerLoadAndRun loads and runs the image where a container engine runs,
// and says so where none does.
func dockerLoadAndRun(t *testing.T, file string, ref oci.Reference) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Log("docker: not installed; docker load and docker run not exercised (skopeo and umoci were)")
		return
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		// docker info prints the client's details first; the reason is last.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("docker: no container engine here (docker info failed: %s); docker load and docker run not exercised (skopeo and umoci were)", lines[len(lines)-1])
		return
	}
	execOut(t, "", nil, "docker", "load", "--input", file)
	t.Cleanup(func() { exec.Command("docker", "image", "rm", "--force", ref.Familiar()).Run() })
	id := strings.TrimSpace(execOut(t, "", nil, "docker", "run", "--detach", "--publish", "127.0.0.1::8080", ref.Familiar()))
	t.Cleanup(func() { exec.Command("docker", "rm", "--force", id).Run() })
	port := strings.TrimSpace(execOut(t, "", nil, "docker", "port", id, "8080/tcp"))
	url := "http://" + port + "/readyz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Logf("docker: loaded and ran %s; /readyz answered 200", ref.Familiar())
				return
			}
		}
		if time.Now().After(deadline) {
			logs, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Fatalf("docker run %s: /readyz not ready within 30s (%v)\n%s", ref.Familiar(), err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestImageReproducible builds the same selection twice from scratch (two go
// builds, two archives): byte-identical archives; another feature set gives
// another digest.
func TestImageReproducible(t *testing.T) {
	skipUnlessLinux(t)
	bin1, sel := binary(t, "default")
	bin2, _ := buildFor(t, "default", hostPlatform, t.TempDir())
	file1, r1 := imageOf(t, t.TempDir(), sel, map[oci.Platform]string{hostPlatform: bin1}, hostPlatform)
	file2, r2 := imageOf(t, t.TempDir(), sel, map[oci.Platform]string{hostPlatform: bin2}, hostPlatform)
	if r1.Digest != r2.Digest || fileDigest(t, file1) != fileDigest(t, file2) {
		t.Errorf("same source, features and date: digests %s and %s", r1.Digest, r2.Digest)
	}
	other, otherSel := binary(t, "memory")
	if _, r3 := imageOf(t, t.TempDir(), otherSel, map[oci.Platform]string{hostPlatform: other}, hostPlatform); r3.Digest == r1.Digest {
		t.Error("another feature set gave the same image digest")
	}
}

// TestImageMultiPlatform puts an amd64 and an arm64 build under one index
// and checks the arm64 image holds an arm64 binary.
func TestImageMultiPlatform(t *testing.T) {
	amd64 := oci.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := oci.Platform{OS: "linux", Architecture: "arm64"}
	amdBin, sel := buildFor(t, "default", amd64, t.TempDir())
	armBin, _ := buildFor(t, "default", arm64, t.TempDir())
	file, res := imageOf(t, t.TempDir(), sel, map[oci.Platform]string{amd64: amdBin, arm64: armBin}, amd64, arm64)
	var idx struct {
		MediaType string
		Manifests []struct{ Platform oci.Platform }
	}
	needTool(t, "skopeo")
	if err := json.Unmarshal([]byte(execOut(t, "", nil, "skopeo", "inspect", "--raw", "oci-archive:"+file)), &idx); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range idx.Manifests {
		platforms = append(platforms, m.Platform.String())
	}
	if idx.MediaType != oci.MediaTypeIndex || !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("index %s with platforms %v", idx.MediaType, platforms)
	}
	if got := skopeoInspect(t, "--override-arch", "arm64", "oci-archive:"+file); got.Architecture != "arm64" || got.Digest != res.Digest {
		t.Errorf("skopeo --override-arch arm64: %+v", got)
	}
	// Copy the arm64 image out (skopeo picks it from the index) and unpack it.
	layoutDir := filepath.Join(t.TempDir(), "arm64")
	execOut(t, "", nil, "skopeo", "copy", "--quiet", "--override-arch", "arm64", "oci-archive:"+file, "oci:"+layoutDir+":arm64")
	navius := filepath.Join(unpack(t, layoutDir, "arm64"), "rootfs", "navius")
	f, err := elf.Open(navius)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("the arm64 image's /navius is a %s ELF", f.Machine)
	}
	if out := execOut(t, "", nil, "go", "version", "-m", navius); !strings.Contains(out, "GOARCH=arm64") {
		t.Errorf("go version -m of the arm64 image's binary:\n%s", out)
	}
}

// modulesOf returns "path version" of each module `go version -m` reports
// as linked (a replacement standing for what it replaces).
func modulesOf(t *testing.T, bin string) []string {
	t.Helper()
	var mods []string
	for _, line := range strings.Split(execOut(t, "", nil, "go", "version", "-m", bin), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "dep":
			mods = append(mods, f[1]+" "+f[2])
		case len(f) >= 2 && f[0] == "=>":
			v := ""
			if len(f) >= 3 {
				v = f[2]
			}
			mods[len(mods)-1] = f[1] + " " + v
		}
	}
	slices.Sort(mods)
	return mods
}

// TestSBOMOfBuilds checks navius sbom on two feature sets: exactly the
// modules go version -m reports, the features the binary reports, and no
// module of an unselected feature.
func TestSBOMOfBuilds(t *testing.T) {
	tool, _ := binary(t, "default")
	m := loadManifest(t)
	for _, spec := range []string{"default", "memory"} {
		bin, sel := binary(t, spec)
		doc := parseSBOM(t, sbomVia(t, tool, bin))
		var got []string
		for _, c := range *doc.Components {
			if c.Name != "std" {
				got = append(got, c.Name+" "+c.Version)
			}
		}
		slices.Sort(got)
		want := modulesOf(t, bin)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: SBOM modules differ from go version -m:\n got %v\nwant %v", spec, got, want)
		}
		var features []string
		for _, p := range *doc.Metadata.Component.Properties {
			if p.Name == "navius:feature" {
				features = append(features, p.Value)
			}
		}
		if reported := reportedFeaturesOf(t, bin); !slices.Equal(features, reported) || !slices.Equal(features, sel.Features) {
			t.Errorf("%s: SBOM features %v, binary reports %v, selected %v", spec, features, reported, sel.Features)
		}
		for _, f := range m.Features {
			if slices.Contains(sel.Features, f.Name) {
				continue
			}
			for _, mod := range f.Modules {
				if slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, mod+" ") }) && !slices.ContainsFunc(sel.Features, func(n string) bool { return slices.Contains(m.Feature(n).Modules, mod) }) && !slices.Contains(m.Core.Modules, mod) {
					t.Errorf("%s: the SBOM lists %s, a module of the unselected feature %s", spec, mod, f.Name)
				}
			}
		}
	}
	// The memory build lacks bbolt, which the default build has.
	mem, _ := binary(t, "memory")
	if strings.Contains(string(sbomVia(t, tool, mem)), "go.etcd.io/bbolt") {
		t.Error("the memory build's SBOM lists go.etcd.io/bbolt")
	}
}

func TestSBOMBadInput(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	out := filepath.Join(dir, "sbom.json")
	for _, args := range [][]string{
		{"sbom", script, "--output", out},
		{"sbom", filepath.Join(dir, "missing"), "--output", out},
		{"sbom", script, script},
	} {
		cmd := exec.Command(tool, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		msg := strings.TrimSpace(stderr.String())
		if code != 2 || strings.Count(msg, "\n") != 0 || msg == "" {
			t.Errorf("navius %s: exit %d, stderr %q; want exit 2 and one line", strings.Join(args, " "), code, msg)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("failed runs left files behind: %v", left)
	}
}
