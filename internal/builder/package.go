package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
		Usage: "build a release archive: dist/navius-<version>-<label>-<goos>-<goarch>.tar.gz and its line in dist/SHA256SUMS",
		Description: "The archive holds the binary, a sample config listing only the enabled features' options,\n" +
			"a README naming the enabled features, and the license. Its <label> is the profile the features\n" +
			"came from (or the profile with exactly these features), else a short hash of the sorted feature\n" +
			"names, so packages of different feature sets never overwrite each other. Entries are sorted,\n" +
			"owned by 0:0 and dated at the commit (or SOURCE_DATE_EPOCH), so the same inputs give a\n" +
			"byte-identical archive.",
		Flags: append(selectionFlags(),
			&ucli.StringFlag{Name: "target", Usage: "cross-compile for `GOOS/GOARCH`, e.g. linux/arm64"},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "dist", Usage: "write the archive into `DIR`"},
			sourceFlag,
		),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return cli.Usagef("package takes no arguments (got %q)", c.Args().First())
			}
			t, err := openTree(c)
			if err != nil {
				return err
			}
			goos, goarch, err := target(c)
			if err != nil {
				return err
			}
			ch, ok, err := t.resolve(c)
			if err != nil {
				return err
			}
			if !ok {
				ch = t.defaults()
			}
			if err := t.checkServes(env.Stdout, ch); err != nil {
				return err
			}
			if err := requireGo(); err != nil {
				return err
			}
			path, sum, err := t.pack(c.Context, env, ch, goos, goarch, c.String("output"))
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "package:  %s\nsha256:   %s\n", path, sum)
			return nil
		},
	}
}

// pack builds sel for the target, asks a host build for the enabled options,
// and writes the archive and SHA256SUMS.
func (t *tree) pack(ctx context.Context, env *cli.Env, ch choice, goos, goarch, outDir string) (string, string, error) {
	sel := ch.sel
	if goos == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	work, err := os.MkdirTemp("", "navius-package-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(env.Stdout, "features: %s\n", strings.Join(sel.Features, ", "))
	fmt.Fprintf(env.Stdout, "[1/3] building for %s\n", goos+"/"+goarch)
	bin, plan, err := t.quietBuild(ctx, sel, filepath.Join(work, "target"), goos, goarch)
	if err != nil {
		return "", "", err
	}
	fmt.Fprintln(env.Stdout, "[2/3] collecting the enabled features' options")
	f, err := t.factsFor(ctx, sel, env.Manifest)
	if err != nil {
		return "", "", err
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return "", "", err
	}
	license, err := os.ReadFile(filepath.Join(t.dir, "LICENSE"))
	if err != nil {
		return "", "", cli.Usagef("the source tree has no LICENSE file to package: %v", err)
	}
	label := t.label(ch)
	base := fmt.Sprintf("navius-%s-%s-%s-%s", plan.Version, label, goos, goarch)
	files := []archiveFile{
		{name: binaryName(goos), mode: 0o755, data: binData},
		{name: "LICENSE", mode: 0o644, data: license},
		{name: "README.md", mode: 0o644, data: []byte(packageReadme(t.manifest, sel, label, plan.Version, goos+"/"+goarch, binaryName(goos)))},
		{name: "navius.yaml.sample", mode: 0o644, data: []byte(cli.SampleConfig(f.Options))},
	}
	fmt.Fprintln(env.Stdout, "[3/3] writing the archive")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", "", err
	}
	archive, err := tarGz(base, files, t.sourceDate())
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(outDir, base+".tar.gz")
	if err := os.WriteFile(path, archive, 0o644); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(archive)
	if err := updateSums(outDir, filepath.Base(path), hex.EncodeToString(sum[:])); err != nil {
		return "", "", err
	}
	return path, hex.EncodeToString(sum[:]), nil
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

// sourceDate is SOURCE_DATE_EPOCH when set, else the commit time of the
// source tree's HEAD, else the Unix epoch.
func (t *tree) sourceDate() time.Time {
	if v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(v, 0).UTC()
	}
	cmd := exec.Command("git", "log", "-1", "--format=%ct")
	cmd.Dir = t.dir
	if out, err := cmd.Output(); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(v, 0).UTC()
		}
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
	fmt.Fprintf(&b, "\nBuilt with: %s\n", build.CommandFor(sel))
	return b.String()
}
