// Package oci writes container images into one tar file that is at once an
// OCI image layout and a `docker save` archive (the layout plus docker's
// manifest.json), so docker load, podman load and skopeo all read it. It
// needs no daemon, no registry and no base image, only the standard library.
//
// Equal inputs give equal bytes: tar entries are sorted and owned by numeric
// ids with fixed times, gzip headers carry no name or time, one compression
// level is used, and JSON is written from structs and sorted maps. The image
// digest is therefore a function of the files, the config and Created.
package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Media types of what the archive holds.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Annotations on index.json's entry that name the image: containerd (and
// docker's containerd image store) read the full name, skopeo and umoci the
// tag, as `docker save` writes them.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// compression is part of every layer digest: changing it changes them all.
// The default level compresses a navius binary within 0.3% of the best one
// in less than half the time.
const compression = gzip.DefaultCompression

// Entry is one file or directory of a layer.
type Entry struct {
	// Path is slash-separated and relative to the root, e.g. "etc/passwd".
	Path string
	// Mode holds the permission bits, plus fs.ModeDir for a directory.
	Mode     fs.FileMode
	UID, GID int
	Data     []byte
}

// Layer is a set of entries; parent directories not listed are added,
// owned by root with mode 0755.
type Layer struct {
	Entries []Entry
	// CreatedBy says in the image history what added the layer.
	CreatedBy string
}

// Config is how a container of the image runs.
type Config struct {
	User         string
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	ExposedPorts []string // e.g. "8080/tcp"
	Labels       map[string]string
	StopSignal   string
}

// Image is one platform's image.
type Image struct {
	Platform Platform
	Layers   []Layer
	Config   Config
	// Annotations go on the image manifest.
	Annotations map[string]string
}

// Archive is what Write puts in one tar: one image, or several platforms of
// one image under an image index, named by Ref.
type Archive struct {
	Ref    Reference
	Images []Image
	// Created dates the configs, the history and every tar entry; use
	// SOURCE_DATE_EPOCH for a reproducible image.
	Created time.Time
	// Annotations go on the image index of a multi-platform archive.
	Annotations map[string]string
}

// Descriptor points at a blob, as OCI defines it.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Result says what Write wrote.
type Result struct {
	// Digest identifies the image: its manifest's digest, or its image
	// index's for several platforms. A registry shows the same digest after
	// a push.
	Digest string
	// Manifests describe each platform's image, in the order given.
	Manifests []Descriptor
	// LayerBytes is the compressed size of each platform's layers.
	LayerBytes []int64
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// imageConfig is the OCI image configuration; docker reads the same JSON.
type imageConfig struct {
	Created      string    `json:"created"`
	Architecture string    `json:"architecture"`
	Variant      string    `json:"variant,omitempty"`
	OS           string    `json:"os"`
	Config       runConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []history `json:"history"`
}

type runConfig struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by,omitempty"`
}

// dockerManifest is one entry of docker's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blobs collects content by digest; equal content is stored once.
type blobs map[string][]byte

func (b blobs) add(mediaType string, data []byte) Descriptor {
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	b[d] = data
	return Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

func (b blobs) addJSON(mediaType string, v any) (Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return Descriptor{}, err
	}
	return b.add(mediaType, data), nil
}

func blobPath(digest string) string { return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:") }

// Write writes the archive to w.
func Write(w io.Writer, a Archive) (Result, error) {
	if len(a.Images) == 0 {
		return Result{}, errors.New("oci: an archive needs at least one image")
	}
	if a.Ref.Repository == "" {
		return Result{}, errors.New("oci: an archive needs a name (Ref)")
	}
	created := a.Created.UTC().Format(time.RFC3339)
	store := blobs{}
	var res Result
	var docker []dockerManifest
	for i, img := range a.Images {
		if slices.ContainsFunc(a.Images[:i], func(o Image) bool { return o.Platform == img.Platform }) {
			return Result{}, fmt.Errorf("oci: platform %s appears twice", img.Platform)
		}
		desc, dm, size, err := store.addImage(img, a.Created, created)
		if err != nil {
			return Result{}, fmt.Errorf("oci: %s image: %w", img.Platform, err)
		}
		res.Manifests = append(res.Manifests, desc)
		res.LayerBytes = append(res.LayerBytes, size)
		// docker's classic store tags the first platform; the containerd
		// store reads index.json and picks the host's platform.
		if i == 0 {
			dm.RepoTags = []string{a.Ref.Familiar()}
		}
		docker = append(docker, dm)
	}
	top := res.Manifests[0]
	if len(a.Images) > 1 {
		var err error
		top, err = store.addJSON(MediaTypeIndex, index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: res.Manifests, Annotations: a.Annotations})
		if err != nil {
			return Result{}, err
		}
	}
	res.Digest = top.Digest
	top.Annotations = map[string]string{AnnotationImageName: a.Ref.String(), AnnotationRefName: a.Ref.Tag}
	root, err := json.Marshal(index{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []Descriptor{top}})
	if err != nil {
		return Result{}, err
	}
	dockerJSON, err := json.Marshal(docker)
	if err != nil {
		return Result{}, err
	}
	files := []Entry{
		{Path: "oci-layout", Mode: 0o644, Data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{Path: "index.json", Mode: 0o644, Data: root},
		{Path: "manifest.json", Mode: 0o644, Data: dockerJSON},
	}
	for d, data := range store {
		files = append(files, Entry{Path: blobPath(d), Mode: 0o644, Data: data})
	}
	if _, err := writeTar(w, files, a.Created); err != nil {
		return Result{}, err
	}
	return res, nil
}

// addImage stores one platform's layers, config and manifest.
func (b blobs) addImage(img Image, mtime time.Time, created string) (Descriptor, dockerManifest, int64, error) {
	if img.Platform.OS == "" || img.Platform.Architecture == "" {
		return Descriptor{}, dockerManifest{}, 0, errors.New("no platform")
	}
	cfg := imageConfig{
		Created: created, Architecture: img.Platform.Architecture, Variant: img.Platform.Variant, OS: img.Platform.OS,
		Config: runConfig{
			User: img.Config.User, Env: img.Config.Env, Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd,
			WorkingDir: img.Config.WorkingDir, Labels: img.Config.Labels, StopSignal: img.Config.StopSignal,
		},
		History: []history{},
	}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{}
	if len(img.Config.ExposedPorts) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range img.Config.ExposedPorts {
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	m := manifest{SchemaVersion: 2, MediaType: MediaTypeManifest, Layers: []Descriptor{}, Annotations: img.Annotations}
	var dm dockerManifest
	var size int64
	for _, l := range img.Layers {
		compressed, diffID, err := layerBlob(l, mtime)
		if err != nil {
			return Descriptor{}, dm, 0, err
		}
		d := b.add(MediaTypeLayer, compressed)
		m.Layers = append(m.Layers, d)
		dm.Layers = append(dm.Layers, blobPath(d.Digest))
		size += d.Size
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		cfg.History = append(cfg.History, history{Created: created, CreatedBy: l.CreatedBy})
	}
	var err error
	if m.Config, err = b.addJSON(MediaTypeConfig, cfg); err != nil {
		return Descriptor{}, dm, 0, err
	}
	dm.Config = blobPath(m.Config.Digest)
	desc, err := b.addJSON(MediaTypeManifest, m)
	if err != nil {
		return Descriptor{}, dm, 0, err
	}
	p := img.Platform
	desc.Platform = &p
	return desc, dm, size, nil
}

// layerBlob returns the gzip-compressed layer tar and the digest of the
// uncompressed tar (its diff ID).
func layerBlob(l Layer, mtime time.Time) ([]byte, string, error) {
	var compressed bytes.Buffer
	gz, err := gzip.NewWriterLevel(&compressed, compression)
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	if _, err := writeTar(io.MultiWriter(gz, h), l.Entries, mtime); err != nil {
		return nil, "", err
	}
	if err := gz.Close(); err != nil {
		return nil, "", err
	}
	return compressed.Bytes(), "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// writeTar writes entries sorted by path, with their missing parent
// directories, owned by numeric ids only and dated mtime.
func writeTar(w io.Writer, entries []Entry, mtime time.Time) (int, error) {
	byPath := map[string]Entry{}
	for _, e := range entries {
		p := path.Clean(e.Path)
		if e.Path == "" || p != strings.TrimSuffix(e.Path, "/") || path.IsAbs(p) || p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return 0, fmt.Errorf("entry path %q must be relative, clean and inside the root", e.Path)
		}
		if _, dup := byPath[p]; dup {
			return 0, fmt.Errorf("entry %q appears twice", p)
		}
		if e.Mode.IsDir() && len(e.Data) > 0 {
			return 0, fmt.Errorf("directory %q has data", p)
		}
		if e.Mode&^(fs.ModeDir|fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid) != 0 {
			return 0, fmt.Errorf("entry %q: only files and directories are supported", p)
		}
		e.Path = p
		byPath[p] = e
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if e, ok := byPath[dir]; ok {
				if !e.Mode.IsDir() {
					return 0, fmt.Errorf("entry %q is inside %q, which is a file", p, dir)
				}
				continue
			}
			byPath[dir] = Entry{Path: dir, Mode: fs.ModeDir | 0o755}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		e := byPath[p]
		hdr := &tar.Header{
			Name: p, Mode: int64(e.Mode.Perm()), Uid: e.UID, Gid: e.GID, ModTime: mtime.UTC(),
			Typeflag: tar.TypeReg, Size: int64(len(e.Data)), Format: tar.FormatPAX,
		}
		if e.Mode&fs.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		if e.Mode&fs.ModeSetgid != 0 {
			hdr.Mode |= 0o2000
		}
		if e.Mode&fs.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if e.Mode.IsDir() {
			hdr.Name += "/"
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, err
		}
		if _, err := tw.Write(e.Data); err != nil {
			return 0, err
		}
	}
	return len(paths), tw.Close()
}

// WriteFile writes the archive to path through a temporary file in the same
// directory, renamed into place only when complete: a failure leaves no
// partial archive behind.
func WriteFile(file string, a Archive) (Result, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*.tmp")
	if err != nil {
		return Result{}, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	res, err := Write(tmp, a)
	if err != nil {
		return Result{}, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return Result{}, err
	}
	if err := tmp.Close(); err != nil {
		return Result{}, err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return Result{}, err
	}
	done = true
	return res, nil
}
