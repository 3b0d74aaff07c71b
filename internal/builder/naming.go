package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
)

// choice is a resolved feature selection and where it came from.
type choice struct {
	sel manifest.Selection
	// how says where the selection came from, for messages.
	how string
	// profile is the profile it came from, if any.
	profile string
	// spec is the FEATURES string it was resolved from: one that names
	// "none" may leave out every database on purpose (a tool-only build).
	spec string
	// platform is the GOOS/GOARCH of the binary --like named.
	platform string
}

// checkServes refuses a selection whose server could not start (no
// database), unless its spec asked for a tool-only build, which is said in
// a warning line on w.
func (t *tree) checkServes(w io.Writer, ch choice) error {
	warning, err := t.manifest.CheckServes(ch.spec, ch.sel)
	if err != nil {
		return cli.Usagef("%s: %v", ch.how, err)
	}
	if warning != "" {
		fmt.Fprintln(w, "warning:", warning)
	}
	return nil
}

// label names a feature set in file names, so that builds and packages of
// different feature sets never overwrite each other: the profile the
// selection came from, else a profile of the tree with exactly these
// features, else a short stable hash of the sorted feature names (the list
// itself is in the build's output and the package's README).
func (t *tree) label(ch choice) string {
	if ch.profile != "" {
		return ch.profile
	}
	for _, n := range t.profileNames() {
		if p, err := t.loadProfile(n); err == nil && slices.Equal(p.Features, ch.sel.Features) {
			return n
		}
	}
	return featureHash(ch.sel.Features)
}

// featureHash is "features-" and the first 8 hex digits of the SHA-256 of
// the sorted, comma-joined feature names ("core" for none).
func featureHash(features []string) string {
	if len(features) == 0 {
		return "core"
	}
	sorted := slices.Sorted(slices.Values(features))
	sum := sha256.Sum256([]byte(strings.Join(sorted, ",")))
	return "features-" + hex.EncodeToString(sum[:4])
}

// artifactName is the file name of a build of label for goos/goarch:
// navius-<label>, plus -<goos>-<goarch> when cross-compiling, plus .exe for
// Windows.
func artifactName(label, goos, goarch string) string {
	name := "navius-" + label
	if goos != "" {
		name += "-" + goos + "-" + goarch
	}
	if goos == "windows" || goos == "" && runtime.GOOS == "windows" {
		name += ".exe"
	}
	return name
}

// refuseSelf fails when writing out would replace the running executable,
// the tool the user is building with.
func refuseSelf(out, flagValue string) error {
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	a, errA := os.Stat(self)
	b, errB := os.Stat(out)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		return nil
	}
	return cli.Usagef("--output %s: %s is the navius binary running this build, and building over it would replace the tool itself; pick another --output directory", flagValue, filepath.Base(out))
}
