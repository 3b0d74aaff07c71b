package oci

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests hand the archives to the tools that consume them in practice:
// skopeo (containers/image, as podman uses) and umoci. make test installs
// both (scripts/deps.sh).

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: apt-get install -y %s (make test installs it)", name, name)
	}
	return p
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// skopeoInspect is the part of skopeo inspect's answer the tests read.
type skopeoInspect struct {
	Digest       string
	Architecture string
	Os           string
	Layers       []string
	Labels       map[string]string
}

func inspect(t *testing.T, args ...string) skopeoInspect {
	t.Helper()
	var out skopeoInspect
	if err := json.Unmarshal([]byte(runTool(t, "skopeo", append([]string{"inspect"}, args...)...)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSkopeoReadsBothFormats(t *testing.T) {
	file := filepath.Join(t.TempDir(), "image.tar")
	res, err := WriteFile(file, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	oci := inspect(t, "oci-archive:"+file)
	if oci.Digest != res.Digest || oci.Architecture != "amd64" || oci.Os != "linux" || len(oci.Layers) != 2 || oci.Labels["b"] != "2" {
		t.Errorf("skopeo inspect oci-archive: %+v (wrote %s)", oci, res.Digest)
	}
	docker := inspect(t, "docker-archive:"+file)
	if docker.Architecture != "amd64" || len(docker.Layers) != 2 || docker.Labels["a"] != "1" {
		t.Errorf("skopeo inspect docker-archive: %+v", docker)
	}
	// skopeo can copy it out of the docker form too, which reads every blob.
	runTool(t, "skopeo", "copy", "--quiet", "docker-archive:"+file, "oci:"+filepath.Join(t.TempDir(), "copy")+":x")
}

func TestSkopeoPicksEachPlatform(t *testing.T) {
	file := filepath.Join(t.TempDir(), "multi.tar")
	a := sample(t, Platform{OS: "linux", Architecture: "amd64"}, Platform{OS: "linux", Architecture: "arm64"})
	res, err := WriteFile(file, a)
	if err != nil {
		t.Fatal(err)
	}
	appLayers := map[string]bool{}
	for _, arch := range []string{"amd64", "arm64"} {
		got := inspect(t, "--override-os", "linux", "--override-arch", arch, "oci-archive:"+file)
		if got.Architecture != arch || got.Digest != res.Digest || len(got.Layers) != 2 {
			t.Errorf("skopeo --override-arch %s read %+v (index %s)", arch, got, res.Digest)
			continue
		}
		appLayers[got.Layers[1]] = true
	}
	if len(appLayers) != 2 {
		t.Errorf("both platforms gave the same app layer: %v", appLayers)
	}
	// docker's form: the tag names the first platform.
	if got := inspect(t, "docker-archive:"+file+":navius:test"); got.Architecture != "amd64" {
		t.Errorf("docker-archive tag points at %s", got.Architecture)
	}
}

// extract unpacks the archive's tar into a directory, for umoci, which reads
// a layout directory.
func extract(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range readTar(t, f) {
		p := filepath.Join(dir, filepath.FromSlash(e.hdr.Name))
		if e.hdr.FileInfo().IsDir() {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestUmociUnpacks(t *testing.T) {
	work := t.TempDir()
	file := filepath.Join(work, "image.tar")
	if _, err := WriteFile(file, sample(t)); err != nil {
		t.Fatal(err)
	}
	extract(t, file, filepath.Join(work, "layout"))
	bundle := filepath.Join(work, "bundle")
	runTool(t, "umoci", "unpack", "--rootless", "--image", filepath.Join(work, "layout")+":test", bundle)
	rootfs := filepath.Join(bundle, "rootfs")
	app, err := os.ReadFile(filepath.Join(rootfs, "app"))
	if err != nil || string(app) != "binary for linux/amd64" {
		t.Errorf("rootfs/app: %q %v", app, err)
	}
	if st, err := os.Stat(filepath.Join(rootfs, "tmp")); err != nil || st.Mode()&fs.ModeSticky == 0 {
		t.Errorf("rootfs/tmp: %v %v", st, err)
	}
	var spec struct {
		Process struct {
			User struct{ UID, GID int }
			Args []string
			Env  []string
			Cwd  string
		}
	}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if p.User.UID != 65532 || p.User.GID != 65532 || p.Cwd != "/data" || strings.Join(p.Args, " ") != "/app serve" {
		t.Errorf("runtime spec process %+v", p)
	}
}
