package builder

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/internal/sbom"
)

func sbomCommand(env *cli.Env) *ucli.Command {
	return &ucli.Command{
		Name:      "sbom",
		Usage:     "print a CycloneDX SBOM of a navius binary (default: this one)",
		ArgsUsage: "[BINARY]",
		Description: "The SBOM (CycloneDX 1.6 JSON) is read from the binary's own build information, so it lists\n" +
			"exactly what the binary links: the Go toolchain, the main module, and every module with its\n" +
			"version and go.sum hash; the compiled-in features are properties. It needs no Go toolchain and\n" +
			"reads binaries built for any platform. SOURCE_DATE_EPOCH, when set, dates it.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the SBOM to `FILE` instead of standard output"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return cli.Usagef("sbom takes one binary (got %d arguments)", c.NArg())
			}
			path, version := c.Args().First(), ""
			self, selfErr := os.Executable()
			switch {
			case path == "" && selfErr != nil:
				return fmt.Errorf("cannot find this binary: %v; name one: navius sbom BINARY", selfErr)
			case path == "":
				path, version = self, buildinfo.Version
			case selfErr == nil && sameFile(path, self):
				// This binary named by its path: it knows its version,
				// which build information does not hold.
				version = buildinfo.Version
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return cli.Usagef("sbom: cannot read %s: %v", path, err)
			}
			doc, err := sbomOf(env.Manifest, data, version, buildinfo.Read().Version, sourceDateEpoch())
			if err != nil {
				return cli.Usagef("sbom: %s %v", path, err)
			}
			if out := c.String("output"); out != "" {
				return writeFileAtomic(out, doc, 0o644)
			}
			_, err = env.Stdout.Write(doc)
			return err
		},
	}
}

// sbomOf is the CycloneDX SBOM of a binary. For a navius binary the features
// are those its build tags select in m, each module is attributed to the
// features (or the core) that bring it, and version, when given, names the
// main component (a -trimpath build keeps its -X version out of build
// information). Any other Go binary gets a plain module list. The SBOM
// names navius at toolVersion as what wrote it: for what the builder
// builds (a package, an image, a binary from builder serve), the version
// it builds, not the version of the binary running the builder, so that
// the same inputs give the same bytes whichever documented way made them
// (make package, navius package from a navius of another version or none).
func sbomOf(m *manifest.Manifest, binary []byte, version, toolVersion string, date time.Time) ([]byte, error) {
	b, err := sbom.Parse(binary)
	if err != nil {
		return nil, err
	}
	opts := sbom.Options{Version: version, Tool: "navius " + toolVersion, Timestamp: date}
	if b.Info.Main.Path == build.Module {
		opts.Features = m.FeaturesFromTags(b.Tags())
		opts.ModuleFeatures = map[string][]string{}
		for _, mod := range m.Core.Modules {
			opts.ModuleFeatures[mod] = append(opts.ModuleFeatures[mod], "core")
		}
		attribute := func(name string, mods []string) {
			for _, mod := range mods {
				if !slices.Contains(opts.ModuleFeatures[mod], name) {
					opts.ModuleFeatures[mod] = append(opts.ModuleFeatures[mod], name)
				}
			}
		}
		for _, name := range opts.Features {
			attribute(name, m.Feature(name).Modules)
		}
		// The features of --with modules, and the versions they raised,
		// are recorded in the binary's bytes by the build.
		if rec, ok := buildinfo.ReadWithRecord(binary); ok {
			for _, f := range rec.Features {
				opts.Features = append(opts.Features, f.Name)
				attribute(f.Name, f.Modules)
			}
			slices.Sort(opts.Features)
			opts.RaisedBy = map[string]string{}
			for _, r := range rec.Raised {
				opts.RaisedBy[r.Path] = fmt.Sprintf("%s (navius requires %s)", r.By, r.From)
			}
		}
	}
	return b.JSON(opts)
}

// sameFile reports whether a and b are the same file (a link or another
// path to it counts).
func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// sourceDateEpoch is SOURCE_DATE_EPOCH, or the zero time when it is unset.
func sourceDateEpoch() time.Time {
	if v, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(v, 0).UTC()
	}
	return time.Time{}
}

// writeFileAtomic writes through a temporary file renamed into place, so a
// failure leaves no partial file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
