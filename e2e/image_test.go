package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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
	"github.com/package-url/packageurl-go"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/oci"
	"github.com/navius-dev/navius/internal/serverimage"
	"github.com/navius-dev/navius/internal/tartest"
)

// These tests run navius package --image, the way users build images, and
// hand the archives to the tools that consume them: skopeo and umoci always
// (make test installs them), docker where an engine runs.

// epochEnv stands for a release's SOURCE_DATE_EPOCH.
var epochEnv = []string{"SOURCE_DATE_EPOCH=1700000000"}

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

// sbomVia asks tool (a build with the builder) for bin's SBOM.
func sbomVia(t *testing.T, tool, bin string) []byte {
	t.Helper()
	return []byte(execOut(t, "", nil, tool, "sbom", bin))
}

// packaged is what one navius package --image run wrote.
type packaged struct {
	dir      string
	archives []string // the tar.gz files
	image    string
	tag      string
	digest   string
	output   string
	took     time.Duration
}

// packageImage runs navius package --image with args into a new directory.
func packageImage(t *testing.T, args ...string) packaged {
	t.Helper()
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	start := time.Now()
	out := execOut(t, dir, epochEnv, tool, append([]string{"package", "--image", "--source", root, "--output", "dist"}, args...)...)
	p := packaged{dir: filepath.Join(dir, "dist"), output: out, took: time.Since(start)}
	p.archives, _ = filepath.Glob(filepath.Join(p.dir, "*.tar.gz"))
	images, _ := filepath.Glob(filepath.Join(p.dir, "*-image.tar"))
	if len(images) != 1 || len(p.archives) == 0 {
		t.Fatalf("package --image %s wrote archives %v and images %v\n%s", strings.Join(args, " "), p.archives, images, out)
	}
	p.image = images[0]
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "tag:      "); ok {
			p.tag = v
		}
		if v, ok := strings.CutPrefix(line, "digest:   "); ok {
			p.digest = v
		}
	}
	sums, _ := os.ReadFile(filepath.Join(p.dir, "SHA256SUMS"))
	for _, f := range append([]string{p.image}, p.archives...) {
		if !strings.Contains(string(sums), harness.FileSHA256(t, f)+"  "+filepath.Base(f)+"\n") {
			t.Errorf("SHA256SUMS has no line for %s:\n%s", filepath.Base(f), sums)
		}
	}
	return p
}

// fromArchive returns the files of a package's tar.gz by base name.
func fromArchive(t *testing.T, archive string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	eachEntry(t, archive, func(h *tar.Header, data []byte) { files[filepath.Base(h.Name)] = data })
	return files
}

// eachEntry calls fn with each entry of the tar (gzipped when its name
// ends in .gz) in file.
func eachEntry(t *testing.T, file string, fn func(h *tar.Header, data []byte)) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(file, ".gz") {
		if r, err = gzip.NewReader(f); err != nil {
			t.Fatal(err)
		}
	}
	tartest.Each(t, r, fn)
}

var hostPlatform = oci.Platform{OS: "linux", Architecture: runtime.GOARCH}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the image tests run the image's Linux binary: they need a Linux machine")
	}
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
	eachEntry(t, file, func(h *tar.Header, data []byte) {
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
		} else if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	return dir
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

// TestPackageImage packages the default features with --image and checks the
// image with skopeo, unpacks it with umoci and runs its binary; docker loads
// and runs it where an engine runs.
func TestPackageImage(t *testing.T) {
	skipUnlessLinux(t)
	// An image leaves the builder out: it needs Go and a source tree.
	sel, err := loadManifest(t).Resolve("default,-builder")
	if err != nil {
		t.Fatal(err)
	}
	p := packageImage(t, "--features", "default")
	if !strings.Contains(p.output, "the builder is left out") {
		t.Errorf("package --image does not say that it leaves the builder out:\n%s", p.output)
	}
	if len(p.archives) != 1 {
		t.Fatalf("archives %v", p.archives)
	}
	pkg := fromArchive(t, p.archives[0])
	st, _ := os.Stat(p.image)
	t.Logf("package --image (warm: its binaries were in the build cache) took %v; image archive %d bytes, the binary %d bytes, its tar.gz %d bytes",
		p.took.Round(time.Millisecond), st.Size(), len(pkg["navius"]), fileSize(t, p.archives[0]))

	// skopeo reads both forms.
	info := skopeoInspect(t, "oci-archive:"+p.image)
	if info.Digest != p.digest || info.Architecture != hostPlatform.Architecture || info.Os != "linux" || len(info.Layers) != 2 {
		t.Errorf("skopeo inspect oci-archive: %+v (package printed digest %s)", info, p.digest)
	}
	if got := info.Labels[serverimage.LabelFeatures]; got != strings.Join(sel.Features, ",") {
		t.Errorf("features label %q, want %q", got, strings.Join(sel.Features, ","))
	}
	for _, k := range []string{"version", "revision", "created"} {
		if info.Labels["org.opencontainers.image."+k] == "" {
			t.Errorf("no org.opencontainers.image.%s label: %v", k, info.Labels)
		}
	}
	// The source label is the tree's origin remote, and absent without one
	// (never a made-up default).
	origin, _ := exec.Command("git", "-C", root, "remote", "get-url", "origin").Output()
	if got, want := info.Labels["org.opencontainers.image.source"], serverimage.CleanSource(strings.TrimSpace(string(origin))); got != want {
		t.Errorf("source label %q, want %q (from the origin remote %q)", got, want, origin)
	}
	if d := skopeoInspect(t, "docker-archive:"+p.image); d.Architecture != hostPlatform.Architecture || len(d.Layers) != 2 {
		t.Errorf("skopeo inspect docker-archive: %+v", d)
	}
	var cfg struct {
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			WorkingDir string
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(execOut(t, "", nil, "skopeo", "inspect", "--config", "oci-archive:"+p.image)), &cfg); err != nil {
		t.Fatal(err)
	}
	if c := cfg.Config; c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/navius"}) || !slices.Equal(c.Cmd, []string{"serve"}) || c.WorkingDir != "/data" {
		t.Errorf("image config %+v", c)
	}

	// umoci unpacks it; the binary runs from the root file system.
	ref, err := oci.ParseReference(p.tag)
	if err != nil {
		t.Fatalf("package printed tag %q: %v", p.tag, err)
	}
	bundle := unpack(t, extractLayout(t, p.image), ref.Tag)
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
	if got, _ := os.ReadFile(navius); !bytes.Equal(got, pkg["navius"]) {
		t.Error("the image's /navius differs from the tar.gz's binary")
	}
	if got := reportedFeaturesOf(t, navius); !slices.Equal(got, sel.Features) {
		t.Errorf("the unpacked binary reports %v, packaged %v", got, sel.Features)
	}
	checkImageSBOM(t, rootfs)
	if got, _ := os.ReadFile(filepath.Join(rootfs, "navius.cdx.json")); !bytes.Equal(got, pkg["navius.cdx.json"]) {
		t.Error("the image's SBOM differs from the tar.gz's")
	}
	// The package's SBOM names the package's version (which build
	// information alone lacks) and features.
	doc := parseSBOM(t, pkg["navius.cdx.json"])
	var features []string
	for _, pr := range *doc.Metadata.Component.Properties {
		if pr.Name == "navius:feature" {
			features = append(features, pr.Value)
		}
	}
	if v := doc.Metadata.Component.Version; v == "" || !strings.HasPrefix(filepath.Base(p.archives[0]), "navius-"+v+"-") || !slices.Equal(features, sel.Features) {
		t.Errorf("the package's SBOM names version %q and features %v (archive %s)", v, features, filepath.Base(p.archives[0]))
	}
	srv := serveAsImage(t, navius, filepath.Join(rootfs, "data"), spec.Process.Env)
	if code := httpStatus(t, srv.URL+"/readyz"); code != 200 {
		t.Errorf("GET /readyz from the unpacked binary: %d", code)
	}
	if !strings.Contains(srv.Logs(), "authentication is off and the listener is not loopback") {
		t.Errorf("the image's all-interfaces listener should log the auth warning:\n%s", srv.Logs())
	}
	srv.Stop(t)

	dockerLoadAndRun(t, p.image, ref)
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
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
	return harness.ServeCmd(t, cmd)
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

// TestPackageImageReproducible packages the same inputs twice (two builds,
// two archives): byte-identical images; another feature set gives another
// digest.
func TestPackageImageReproducible(t *testing.T) {
	skipUnlessLinux(t)
	a := packageImage(t, "--features", "memory")
	b := packageImage(t, "--features", "memory")
	t.Logf("package --image --features memory took %v, then %v", a.took.Round(time.Millisecond), b.took.Round(time.Millisecond))
	if a.digest == "" || a.digest != b.digest || harness.FileSHA256(t, a.image) != harness.FileSHA256(t, b.image) {
		t.Errorf("same source, features and SOURCE_DATE_EPOCH: digests %s and %s", a.digest, b.digest)
	}
	if c := packageImage(t, "--features", "memory,pprof"); c.digest == a.digest || c.tag == a.tag {
		t.Errorf("another feature set gave the same digest %s or tag %s", c.digest, c.tag)
	}
}

// TestPackageImageMultiPlatform packages linux/amd64 and linux/arm64 under
// one index with a given tag and checks the arm64 image holds an arm64
// binary.
func TestPackageImageMultiPlatform(t *testing.T) {
	p := packageImage(t, "--features", "memory", "--platform", "linux/amd64,linux/arm64", "--tag", "registry.example.com/team/navius:e2e")
	if len(p.archives) != 2 || p.tag != "registry.example.com/team/navius:e2e" {
		t.Fatalf("archives %v tag %q", p.archives, p.tag)
	}
	var idx struct {
		MediaType string
		Manifests []struct{ Platform oci.Platform }
	}
	needTool(t, "skopeo")
	if err := json.Unmarshal([]byte(execOut(t, "", nil, "skopeo", "inspect", "--raw", "oci-archive:"+p.image)), &idx); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range idx.Manifests {
		platforms = append(platforms, m.Platform.String())
	}
	if idx.MediaType != oci.MediaTypeIndex || !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("index %s with platforms %v", idx.MediaType, platforms)
	}
	if got := skopeoInspect(t, "--override-arch", "arm64", "oci-archive:"+p.image); got.Architecture != "arm64" || got.Digest != p.digest {
		t.Errorf("skopeo --override-arch arm64: %+v", got)
	}
	// Copy the arm64 image out (skopeo picks it from the index) and unpack it.
	layoutDir := filepath.Join(t.TempDir(), "arm64")
	execOut(t, "", nil, "skopeo", "copy", "--quiet", "--override-arch", "arm64", "oci-archive:"+p.image, "oci:"+layoutDir+":arm64")
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
	for _, a := range p.archives {
		if !strings.HasSuffix(a, "-linux-amd64.tar.gz") && !strings.HasSuffix(a, "-linux-arm64.tar.gz") {
			t.Errorf("unexpected archive %s", a)
		}
	}
}

// TestPackageImageBadInput: each mistake is one line, exit 2, and leaves no
// file behind.
func TestPackageImageBadInput(t *testing.T) {
	tool, _ := binary(t, "default")
	empty := t.TempDir() // a PATH without go
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o644)
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--image", "--platform", "linux/amd65"}, nil, `unknown platform "linux/amd65"`},
		{[]string{"--image", "--platform", "windows/amd64"}, nil, "unknown platform"},
		{[]string{"--image", "--tag", "Navius:1"}, nil, "lowercase"},
		{[]string{"--image", "--tag", "navius:-bad"}, nil, "tag"},
		{[]string{"--image", "--tag", "navius@sha256:00"}, nil, "digest"},
		{[]string{"--tag", "navius:1"}, nil, "--tag goes with --image"},
		{[]string{"--image", "--platform", "linux/arm64", "--target", "linux/arm64"}, nil, "not both"},
		{[]string{"--image", "--ca-certificates", notPEM}, nil, "not a PEM bundle"},
		{[]string{"--image"}, []string{"PATH=" + empty}, "Go toolchain is not on PATH"},
	} {
		dir := t.TempDir()
		args := append([]string{"package", "--features", "memory", "--source", root, "--output", "dist"}, c.args...)
		code, _, stderr := runIn(t, dir, "", tool, c.env, args...)
		msg := strings.TrimSpace(stderr)
		if code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, c.want) {
			t.Errorf("package %s: exit %d, stderr %q; want exit 2 and one line naming %q", strings.Join(c.args, " "), code, msg, c.want)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("package %s left %v behind", strings.Join(c.args, " "), left)
		}
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

// TestSBOMOfFileBuild: navius sbom of a Go binary built from a file
// outside any module (go build main.go, whose build information names no
// module) gives its main component a valid purl, as the purl reference
// library parses it back: the package path go records, at (devel).
func TestSBOMOfFileBuild(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	execOut(t, dir, []string{"CGO_ENABLED=0", "GOWORK=off"}, "go", "build", "-o", "hello", "main.go")
	purl := parseSBOM(t, sbomVia(t, tool, filepath.Join(dir, "hello"))).Metadata.Component.PackageURL
	p, err := packageurl.FromString(purl)
	if err != nil || p.Type != packageurl.TypeGolang || p.Name != "command-line-arguments" || p.Version != "(devel)" || p.ToString() != purl {
		t.Errorf("purl %q of a binary built from a file: parsed %+v (%v); want pkg:golang/command-line-arguments@%%28devel%%29", purl, p, err)
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
		code, _, stderr := run(t, tool, nil, args...)
		msg := strings.TrimSpace(stderr)
		if code != 2 || strings.Count(msg, "\n") != 0 || msg == "" {
			t.Errorf("navius %s: exit %d, stderr %q; want exit 2 and one line", strings.Join(args, " "), code, msg)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("failed runs left files behind: %v", left)
	}
}
