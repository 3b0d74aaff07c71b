package sbom

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	nbuildinfo "github.com/navius-dev/navius/internal/buildinfo"
)

// TestReadBuildInfoAgreesWithTheStandardLibrary compares the byte scan with
// debug/buildinfo on binaries of each object format (ELF, PE, Mach-O), on one
// with modules, and on this test binary, which holds the magic bytes as
// constants (here and in debug/buildinfo) besides its real build
// information.
func TestReadBuildInfoAgreesWithTheStandardLibrary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bins := []string{self, buildProg(t)}
	for _, target := range []string{"linux/arm64", "windows/amd64", "darwin/arm64"} {
		goos, goarch, _ := strings.Cut(target, "/")
		out := filepath.Join(t.TempDir(), "tiny-"+goos+"-"+goarch)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/tiny")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build for %s: %v\n%s", target, err, msg)
		}
		bins = append(bins, out)
	}
	for _, bin := range bins {
		want, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatalf("debug/buildinfo %s: %v", bin, err)
		}
		data, _ := os.ReadFile(bin)
		got, err := nbuildinfo.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(bin), err)
			continue
		}
		if got.String() != want.String() || got.GoVersion != want.GoVersion {
			t.Errorf("%s: the scan read\n%s\ndebug/buildinfo read\n%s", filepath.Base(bin), got, want)
		}
	}
}
