package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/tartest"
)

var epoch = time.Unix(1700000000, 0)

func mustRef(t *testing.T, s string) Reference {
	t.Helper()
	r, err := ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sample(t *testing.T, platforms ...Platform) Archive {
	t.Helper()
	if len(platforms) == 0 {
		platforms = []Platform{{OS: "linux", Architecture: "amd64"}}
	}
	a := Archive{Ref: mustRef(t, "navius:test"), Created: epoch}
	for _, p := range platforms {
		a.Images = append(a.Images, Image{
			Platform: p,
			Layers: []Layer{
				{CreatedBy: "base", Entries: []Entry{
					{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0::/:/sbin/nologin\n")},
					{Path: "data", Mode: fs.ModeDir | 0o755, UID: 65532, GID: 65532},
					{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
				}},
				{CreatedBy: "app", Entries: []Entry{
					{Path: "app", Mode: 0o755, Data: []byte("binary for " + p.String())},
				}},
			},
			Config: Config{User: "65532:65532", Entrypoint: []string{"/app"}, Cmd: []string{"serve"}, WorkingDir: "/data",
				Env: []string{"A=1"}, ExposedPorts: []string{"8080/tcp"}, Labels: map[string]string{"b": "2", "a": "1"}},
		})
	}
	return a
}

func write(t *testing.T, a Archive) ([]byte, Result) {
	t.Helper()
	var buf bytes.Buffer
	res, err := Write(&buf, a)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), res
}

type tarFile struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, r io.Reader) []tarFile {
	t.Helper()
	var out []tarFile
	tartest.Each(t, r, func(h *tar.Header, data []byte) { out = append(out, tarFile{h, data}) })
	return out
}

// layout is an archive read back: files by name, checked to be sorted and
// every blob's name its digest.
func layout(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	for _, f := range readTar(t, bytes.NewReader(data)) {
		names = append(names, f.hdr.Name)
		files[f.hdr.Name] = f.data
		if hex, ok := strings.CutPrefix(f.hdr.Name, "blobs/sha256/"); ok && hex != "" {
			if sum := sha256.Sum256(f.data); hexOf(sum[:]) != hex {
				t.Errorf("blob %s holds content of digest %s", hex, hexOf(sum[:]))
			}
		}
		if f.hdr.Uid != 0 || f.hdr.Gid != 0 || !f.hdr.ModTime.Equal(epoch) {
			t.Errorf("%s: owner %d:%d time %v", f.hdr.Name, f.hdr.Uid, f.hdr.Gid, f.hdr.ModTime)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("archive entries not sorted: %v", names)
	}
	return files
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func blob(t *testing.T, files map[string][]byte, digest string, v any) []byte {
	t.Helper()
	data, ok := files[blobPath(digest)]
	if !ok {
		t.Fatalf("no blob %s", digest)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("blob %s: %v", digest, err)
		}
	}
	return data
}

func TestSinglePlatformLayout(t *testing.T) {
	data, res := write(t, sample(t))
	files := layout(t, data)
	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	var root index
	if err := json.Unmarshal(files["index.json"], &root); err != nil {
		t.Fatal(err)
	}
	if len(root.Manifests) != 1 {
		t.Fatalf("index.json has %d entries", len(root.Manifests))
	}
	top := root.Manifests[0]
	if top.MediaType != MediaTypeManifest || top.Digest != res.Digest {
		t.Errorf("index.json entry %+v, result digest %s", top, res.Digest)
	}
	if top.Annotations[AnnotationImageName] != "docker.io/library/navius:test" || top.Annotations[AnnotationRefName] != "test" {
		t.Errorf("annotations %v", top.Annotations)
	}
	var m manifest
	blob(t, files, top.Digest, &m)
	if int64(len(blob(t, files, top.Digest, nil))) != top.Size {
		t.Errorf("manifest size %d != descriptor size", top.Size)
	}
	var cfg imageConfig
	blob(t, files, m.Config.Digest, &cfg)
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("config platform/created: %+v", cfg)
	}
	c := cfg.Config
	if c.User != "65532:65532" || c.WorkingDir != "/data" || !slices.Equal(c.Entrypoint, []string{"/app"}) ||
		!slices.Equal(c.Cmd, []string{"serve"}) || c.Labels["a"] != "1" || len(c.ExposedPorts) != 1 {
		t.Errorf("run config %+v", c)
	}
	if len(m.Layers) != 2 || len(cfg.RootFS.DiffIDs) != 2 || len(cfg.History) != 2 || cfg.History[1].CreatedBy != "app" {
		t.Fatalf("layers %d diff ids %d history %v", len(m.Layers), len(cfg.RootFS.DiffIDs), cfg.History)
	}
	for i, l := range m.Layers {
		raw := gunzip(t, blob(t, files, l.Digest, nil))
		if sum := sha256.Sum256(raw); "sha256:"+hexOf(sum[:]) != cfg.RootFS.DiffIDs[i] {
			t.Errorf("layer %d: diff id %s is not the digest of the uncompressed tar", i, cfg.RootFS.DiffIDs[i])
		}
	}
	var dm []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &dm); err != nil {
		t.Fatal(err)
	}
	if len(dm) != 1 || !slices.Equal(dm[0].RepoTags, []string{"navius:test"}) || dm[0].Config != blobPath(m.Config.Digest) {
		t.Fatalf("manifest.json %+v", dm)
	}
	for _, l := range dm[0].Layers {
		if _, ok := files[l]; !ok {
			t.Errorf("manifest.json names layer %s, which is not in the archive", l)
		}
	}
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q time %v", zr.Name, zr.ModTime)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestLayerEntries(t *testing.T) {
	data, _ := write(t, sample(t))
	files := layout(t, data)
	var root index
	var m manifest
	json.Unmarshal(files["index.json"], &root)
	blob(t, files, root.Manifests[0].Digest, &m)
	entries := readTar(t, bytes.NewReader(gunzip(t, blob(t, files, m.Layers[0].Digest, nil))))
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		if !e.hdr.ModTime.Equal(epoch) || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s: time %v owner names %q %q", e.hdr.Name, e.hdr.ModTime, e.hdr.Uname, e.hdr.Gname)
		}
		switch e.hdr.Name {
		case "data/":
			if e.hdr.Uid != 65532 || e.hdr.Gid != 65532 || e.hdr.Typeflag != tar.TypeDir {
				t.Errorf("data/: %+v", e.hdr)
			}
		case "tmp/":
			if e.hdr.Mode != 0o1777 {
				t.Errorf("tmp/ mode %o, want 1777", e.hdr.Mode)
			}
		case "etc/":
			if e.hdr.Mode != 0o755 || e.hdr.Uid != 0 {
				t.Errorf("implied parent etc/: %+v", e.hdr)
			}
		}
	}
	if want := []string{"data/", "etc/", "etc/passwd", "tmp/"}; !slices.Equal(names, want) {
		t.Errorf("layer entries %v, want %v", names, want)
	}
}

func TestReproducible(t *testing.T) {
	a1, r1 := write(t, sample(t))
	a2, r2 := write(t, sample(t))
	if !bytes.Equal(a1, a2) || r1.Digest != r2.Digest {
		t.Fatalf("same inputs, different archives: %s vs %s", r1.Digest, r2.Digest)
	}
	later := sample(t)
	later.Created = epoch.Add(time.Second)
	if _, r := write(t, later); r.Digest == r1.Digest {
		t.Error("a different Created gave the same digest")
	}
	changed := sample(t)
	changed.Images[0].Layers[1].Entries[0].Data = []byte("another binary")
	if _, r := write(t, changed); r.Digest == r1.Digest {
		t.Error("a different file gave the same digest")
	}
	// The order files are given in does not matter.
	shuffled := sample(t)
	e := shuffled.Images[0].Layers[0].Entries
	e[0], e[2] = e[2], e[0]
	if _, r := write(t, shuffled); r.Digest != r1.Digest {
		t.Error("the order of entries changed the digest")
	}
}

func TestMultiPlatform(t *testing.T) {
	amd, arm := Platform{OS: "linux", Architecture: "amd64"}, Platform{OS: "linux", Architecture: "arm64"}
	a := sample(t, amd, arm)
	a.Annotations = map[string]string{"org.opencontainers.image.version": "1"}
	data, res := write(t, a)
	files := layout(t, data)
	var root, idx index
	json.Unmarshal(files["index.json"], &root)
	if len(root.Manifests) != 1 || root.Manifests[0].MediaType != MediaTypeIndex || root.Manifests[0].Digest != res.Digest {
		t.Fatalf("index.json %+v", root)
	}
	blob(t, files, res.Digest, &idx)
	if len(idx.Manifests) != 2 || *idx.Manifests[0].Platform != amd || *idx.Manifests[1].Platform != arm {
		t.Fatalf("image index %+v", idx.Manifests)
	}
	if idx.Annotations["org.opencontainers.image.version"] != "1" {
		t.Errorf("index annotations %v", idx.Annotations)
	}
	var mAmd, mArm manifest
	blob(t, files, idx.Manifests[0].Digest, &mAmd)
	blob(t, files, idx.Manifests[1].Digest, &mArm)
	if mAmd.Layers[0].Digest != mArm.Layers[0].Digest {
		t.Error("the base layer differs between platforms")
	}
	if mAmd.Layers[1].Digest == mArm.Layers[1].Digest {
		t.Error("the app layers of two platforms are equal")
	}
	var cfg imageConfig
	blob(t, files, mArm.Config.Digest, &cfg)
	if cfg.Architecture != "arm64" {
		t.Errorf("arm64 config says %s", cfg.Architecture)
	}
	var dm []dockerManifest
	json.Unmarshal(files["manifest.json"], &dm)
	if len(dm) != 2 || len(dm[0].RepoTags) != 1 || len(dm[1].RepoTags) != 0 {
		t.Errorf("manifest.json should list both, tagging the first: %+v", dm)
	}
	// 2 manifests, 2 configs, 1 shared base layer, 2 app layers, 1 index.
	blobs := 0
	for name := range files {
		if strings.HasPrefix(name, "blobs/sha256/") && name != "blobs/sha256/" {
			blobs++
		}
	}
	if blobs != 8 {
		t.Errorf("%d blobs, want 8", blobs)
	}
	if _, err := Write(io.Discard, sample(t, amd, amd)); err == nil {
		t.Error("a platform given twice was accepted")
	}
}

func TestBadEntries(t *testing.T) {
	for _, entries := range [][]Entry{
		{{Path: "/etc/passwd", Mode: 0o644}},
		{{Path: "../x", Mode: 0o644}},
		{{Path: "a/../b", Mode: 0o644}},
		{{Path: "", Mode: 0o644}},
		{{Path: "a", Mode: 0o644}, {Path: "a/", Mode: fs.ModeDir | 0o755}},
		{{Path: "a", Mode: 0o644}, {Path: "a/b", Mode: 0o644}},
		{{Path: "d", Mode: fs.ModeDir | 0o755, Data: []byte("x")}},
		{{Path: "l", Mode: fs.ModeSymlink | 0o777}},
	} {
		a := sample(t)
		a.Images[0].Layers = []Layer{{Entries: entries}}
		if _, err := Write(io.Discard, a); err == nil {
			t.Errorf("entries %+v were accepted", entries)
		}
	}
}

func TestWriteFileLeavesNothingOnError(t *testing.T) {
	dir := t.TempDir()
	bad := sample(t)
	bad.Images[0].Layers[0].Entries[0].Path = "/abs"
	file := filepath.Join(dir, "image.tar")
	if _, err := WriteFile(file, bad); err == nil {
		t.Fatal("a bad archive was written")
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a failed write left %v", left)
	}
	res, err := WriteFile(file, sample(t))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	if _, want := write(t, sample(t)); res.Digest != want.Digest || len(data) == 0 {
		t.Errorf("WriteFile digest %s, Write digest %s", res.Digest, want.Digest)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("after a write the directory holds %v", left)
	}
}
