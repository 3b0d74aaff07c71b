package builder

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
)

func packageCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:  "package",
		Usage: "build a release archive: dist/navius-<version>-<label>-<goos>-<goarch>.tar.gz (.zip for Windows) and its line in dist/SHA256SUMS; --image adds a container image",
		Description: "The archive holds the binary, its CycloneDX SBOM (navius.cdx.json), a sample config listing\n" +
			"only the enabled features' options, a README naming the enabled features, and the license. Its\n" +
			"<label> is the profile the features came from (or the profile with exactly these features), else\n" +
			"a short hash of the sorted feature names, so packages of different feature sets never overwrite\n" +
			"each other. Entries are sorted, owned by 0:0 and dated at the commit (or SOURCE_DATE_EPOCH), so\n" +
			"the same inputs give a byte-identical archive, whichever navius runs this: the SBOM names as its\n" +
			"tool navius at the version packaged, not this binary's own version.\n\n" +
			"--image also writes navius-<version>-<label>-image.tar, built without a daemon: an OCI image\n" +
			"layout that also carries docker's manifest.json, so docker load, podman load and skopeo read it.\n" +
			"The image is the binary and its SBOM on an empty base with CA certificates and a nonroot user\n" +
			"65532; it runs navius serve in /data, listening on port 8080 of every interface. With\n" +
			"--platform it holds one image per platform under an index (and a tar.gz is written for each).",
		Flags: append(append(selectionFlags(),
			&ucli.StringFlag{Name: "target", Usage: "cross-compile for `GOOS/GOARCH`, e.g. linux/arm64"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "dist", Usage: "write the archive into `DIR`"},
			sourceFlag, naviusFlag,
		), imageFlags()...),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return cli.Usagef("package takes no arguments (got %q)", c.Args().First())
			}
			t, err := openSource(c.Context, env.Stdout, c)
			if err != nil {
				return err
			}
			goos, goarch, err := target(c)
			if err != nil {
				return err
			}
			img, err := parseImageRequest(c)
			if err != nil {
				return err
			}
			ch, ok, err := t.resolve(c, c.Command.Name)
			if err != nil {
				return err
			}
			if !ok {
				ch = t.defaults()
			}
			if img != nil {
				named := slices.Contains(strings.FieldsFunc(c.String("features"), func(r rune) bool { return r == ',' || r == ' ' }), "builder")
				if ch, err = t.withoutBuilder(env.Stdout, ch, named); err != nil {
					return err
				}
			}
			if err := t.checkServes(env.Stdout, ch); err != nil {
				return err
			}
			if err := requireGo(); err != nil {
				return err
			}
			targets := [][2]string{{goos, goarch}}
			if img != nil {
				targets = nil
				for _, p := range img.platforms {
					targets = append(targets, [2]string{p.GOOS(), p.GOARCH()})
				}
			}
			return t.pack(c.Context, env, ch, targets, c.String("output"), img)
		},
	}
}

// withoutBuilder leaves the builder out of an image's selection: it needs
// the Go toolchain, which an image does not have. Only --features naming
// builder itself (named) keeps it. The package's tar.gz holds the same
// binary as the image, so it goes without too; the label follows the
// features (a profile that had the builder no longer names them).
func (t *tree) withoutBuilder(w io.Writer, ch choice, named bool) (choice, error) {
	const builder = "builder"
	if named || !slices.Contains(ch.sel.Features, builder) {
		return ch, nil
	}
	spec := ch.spec + ",-" + builder
	sel, err := t.manifest.Resolve(spec)
	if err != nil {
		return ch, cli.Usagef("%s without the builder: %v", ch.how, err)
	}
	fmt.Fprintf(w, "image:    the builder is left out (it needs the Go toolchain, which an image does not have); --features %s,builder keeps it\n",
		strings.Join(ch.sel.Features, ","))
	return choice{sel: sel, how: ch.how + " without the builder", spec: spec}, nil
}

// pack builds sel for each target, asks a host build for the enabled
// options, and writes one archive per target (and with img the image of
// them all), each with its line in SHA256SUMS. Files are written whole or
// not at all.
func (t *tree) pack(ctx context.Context, env *cli.Env, ch choice, targets [][2]string, outDir string, img *imageRequest) error {
	sel := ch.sel
	work, err := os.MkdirTemp("", "navius-package-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	steps := len(targets) + 2
	date := t.sourceDate()
	fmt.Fprintf(env.Stdout, "features: %s\n", strings.Join(sel.Features, ", "))
	var bins []builtBinary
	var version, hostBin string
	for i, tg := range targets {
		goos, goarch := tg[0], tg[1]
		if goos == "" {
			goos, goarch = runtime.GOOS, runtime.GOARCH
		}
		fmt.Fprintf(env.Stdout, "[%d/%d] building for %s\n", i+1, steps, goos+"/"+goarch)
		bin, plan, err := t.quietBuild(ctx, sel, filepath.Join(work, goos+"-"+goarch), goos, goarch)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		// The tree's manifest: the binary was built from it.
		doc, err := sbomOf(t.manifest, data, plan.Version, plan.Version, date)
		if err != nil {
			return fmt.Errorf("SBOM of the %s/%s binary: %v", goos, goarch, err)
		}
		bins = append(bins, builtBinary{goos: goos, goarch: goarch, data: data, sbom: doc})
		version = plan.Version
		if isHost(goos, goarch) {
			hostBin = bin
		}
	}
	fmt.Fprintf(env.Stdout, "[%d/%d] collecting the enabled features' options\n", steps-1, steps)
	var f facts
	if hostBin != "" && !t.isSelf(sel) {
		f, err = factsOf(ctx, hostBin) // a binary just built for this machine: no second build
	} else {
		f, err = t.factsFor(ctx, sel, env.Manifest)
	}
	if err != nil {
		return err
	}
	license, err := os.ReadFile(filepath.Join(t.dir, "LICENSE"))
	if err != nil {
		return cli.Usagef("the source tree has no LICENSE file to package: %v", err)
	}
	label := t.label(ch)
	what := "the archive"
	if len(targets) > 1 {
		what = "the archives"
	}
	if img != nil {
		what += " and the image"
	}
	fmt.Fprintf(env.Stdout, "[%d/%d] writing %s\n", steps, steps, what)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, b := range bins {
		base := fmt.Sprintf("navius-%s-%s-%s-%s", version, label, b.goos, b.goarch)
		files := []archiveFile{
			{name: binaryName(b.goos), mode: 0o755, data: b.data},
			{name: "navius.cdx.json", mode: 0o644, data: b.sbom},
			{name: "LICENSE", mode: 0o644, data: license},
			{name: "README.md", mode: 0o644, data: []byte(packageReadme(t.manifest, sel, label, version, b.goos+"/"+b.goarch, binaryName(b.goos)))},
			{name: "navius.yaml.sample", mode: 0o644, data: []byte(cli.SampleConfig(f.Options))},
		}
		// Windows users get a zip, which Explorer opens; the rest a tar.gz.
		pack, ext := tarGz, ".tar.gz"
		if b.goos == "windows" {
			pack, ext = zipArchive, ".zip"
		}
		archive, err := pack(base, files, date)
		if err != nil {
			return err
		}
		path := filepath.Join(outDir, base+ext)
		if err := writeFileAtomic(path, archive, 0o644); err != nil {
			return err
		}
		sum := sha256Hex(archive)
		if err := updateSums(outDir, filepath.Base(path), sum); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "package:  %s\nsha256:   %s\n", path, sum)
	}
	if img == nil {
		return nil
	}
	start := time.Now()
	path, sum, ref, res, err := t.imageArchive(img, bins, sel.Features, version, label, outDir, date)
	if err != nil {
		return err
	}
	if err := updateSums(outDir, filepath.Base(path), sum); err != nil {
		return err
	}
	var platforms []string
	for _, p := range img.platforms {
		platforms = append(platforms, p.String())
	}
	var size int64
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	fmt.Fprintf(env.Stdout, "image:    %s (%s, %s, written in %v)\n", path, strings.Join(platforms, ", "), build.HumanSize(size), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(env.Stdout, "sha256:   %s\ntag:      %s\ndigest:   %s\n", sum, ref.Familiar(), res.Digest)
	fmt.Fprintf(env.Stdout, "run it:   docker load -i %s && docker run -p 8080:8080 %s\n", path, ref.Familiar())
	return nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

type archiveFile struct {
	name string
	mode int64
	data []byte
}

// tarGz writes files under dir/ with sorted names, owner 0:0, fixed times
// and a gzip header without name or time, so equal inputs give equal bytes.
func tarGz(dir string, files []archiveFile, mtime time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	hdr := func(name string, mode int64, size int64, typ byte) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Size: size, Typeflag: typ, ModTime: mtime, Format: tar.FormatPAX,
			Uid: 0, Gid: 0, Uname: "", Gname: ""}
	}
	if err := tw.WriteHeader(hdr(dir+"/", 0o755, 0, tar.TypeDir)); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := tw.WriteHeader(hdr(dir+"/"+f.name, f.mode, int64(len(f.data)), tar.TypeReg)); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// zipArchive is tarGz's zip: files under dir/ with sorted names, fixed
// times and modes, deflated, so equal inputs give equal bytes.
func zipArchive(dir string, files []archiveFile, mtime time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	dirHdr := &zip.FileHeader{Name: dir + "/", Modified: mtime}
	dirHdr.SetMode(fs.ModeDir | 0o755)
	if _, err := zw.CreateHeader(dirHdr); err != nil {
		return nil, err
	}
	for _, f := range files {
		h := &zip.FileHeader{Name: dir + "/" + f.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(fs.FileMode(f.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sourceDate is SOURCE_DATE_EPOCH when set, else the commit time of the
// source tree's HEAD (of a fetched navius, its version's time), else the
// Unix epoch.
func (t *tree) sourceDate() time.Time {
	if v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(v, 0).UTC()
	}
	if f := t.fetched; f != nil && !f.Time.IsZero() {
		return f.Time
	}
	if v, err := strconv.ParseInt(t.git("log", "-1", "--format=%ct"), 10, 64); err == nil {
		return time.Unix(v, 0).UTC()
	}
	return time.Unix(0, 0).UTC()
}

// updateSums sets the line of archive in dir/SHA256SUMS, keeping one line
// per archive: the lines of other archives stay (those whose file is gone
// are dropped), sorted by name.
func updateSums(dir, archive, sum string) error {
	path := filepath.Join(dir, "SHA256SUMS")
	sums := map[string]string{archive: sum}
	if data, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			s, name, ok := strings.Cut(line, "  ")
			if !ok || name == archive {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				sums[name] = s
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func packageReadme(m *manifest.Manifest, sel manifest.Selection, label, version, platform, bin string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# navius %s (%s, %s)\n\n", version, label, platform)
	fmt.Fprintf(&b, "A single-binary server whose backends were chosen at compile time. This build (%s in the\n", label)
	b.WriteString("archive's name) carries:\n\n")
	if len(sel.Features) == 0 {
		b.WriteString("- no optional feature (the core alone)\n")
	}
	for _, n := range sel.Features {
		f := m.Feature(n)
		fmt.Fprintf(&b, "- `%s` (%s): %s\n", n, f.Category, f.Description)
	}
	if dbs := m.ProvidersOf(sel.Features, "database"); slices.Equal(dbs, []string{"memory"}) {
		b.WriteString("\n**This build keeps data in memory only**: everything stored is lost when the process stops.\n")
		fmt.Fprintf(&b, "For data that survives a restart, build with a persistent database (%s).\n",
			strings.Join(slices.DeleteFunc(m.ProvidersOf(m.Names(), "database"), func(n string) bool { return n == "memory" }), " or "))
	}
	fmt.Fprintf(&b, "\nRun it with `./%s serve`; `./%s --features` lists what it carries and `./%s config keys`\n", bin, bin, bin)
	b.WriteString("its options. `navius.yaml.sample` holds every option of this build at its default: copy it,\n")
	fmt.Fprintf(&b, "edit it and pass it with `./%s serve --config navius.yaml`. Secrets (tokens, passwords) are\n", bin)
	b.WriteString("never in the sample: set them through the environment variables it names.\n")
	b.WriteString("\n`navius.cdx.json` is the binary's bill of materials (CycloneDX 1.6 JSON): the Go toolchain and\n")
	b.WriteString("every module linked in, with its version and go.sum hash, read from the binary itself;\n")
	fmt.Fprintf(&b, "`./%s sbom %s` (from a build with the builder) prints it again from the binary.\n", bin, bin)
	fmt.Fprintf(&b, "\nBuilt with: %s\n", build.CommandFor(sel))
	return b.String()
}
