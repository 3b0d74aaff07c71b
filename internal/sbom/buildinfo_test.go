package sbom

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		got, err := readBuildInfo(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(bin), err)
			continue
		}
		if got.String() != want.String() || got.GoVersion != want.GoVersion {
			t.Errorf("%s: the scan read\n%s\ndebug/buildinfo read\n%s", filepath.Base(bin), got, want)
		}
	}
}

func TestReadBuildInfoRejects(t *testing.T) {
	header := func(flags byte, rest string) []byte {
		b := make([]byte, 64, 256)
		copy(b[16:], buildInfoMagic)
		b[16+14], b[16+15] = 8, flags
		return append(b[:48], rest...)
	}
	sentinel := strings.Repeat("x", 16)
	mod := sentinel + "path\texample.com/m\nmod\texample.com/m\t(devel)\t\n" + sentinel
	good := header(flagsVersionInl, "\x08go1.26.0"+string(rune(len(mod)))+mod)
	if bi, err := readBuildInfo(good); err != nil || bi.Main.Path != "example.com/m" || bi.GoVersion != "go1.26.0" {
		t.Fatalf("a well-formed header: %v %v", bi, err)
	}
	for name, data := range map[string][]byte{
		"empty":             nil,
		"magic only":        buildInfoMagic,
		"misaligned":        append([]byte{0}, good...),
		"pre-1.18 pointers": header(0, "\x08go1.26.0"+string(rune(len(mod)))+mod),
		"not a go version":  header(flagsVersionInl, "\x08xx1.26.0"+string(rune(len(mod)))+mod),
		"length past end":   header(flagsVersionInl, "\x7fgo1.26"),
		"no sentinels":      header(flagsVersionInl, "\x08go1.26.0\x05abcde"),
		"truncated":         good[:len(good)-10],
	} {
		if _, err := readBuildInfo(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
