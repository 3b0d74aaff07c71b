package buildinfo

import (
	"strings"
	"testing"
)

// The scan is compared with debug/buildinfo on real binaries of each object
// format in internal/sbom's tests; these are the malformed inputs.
func TestParseRejects(t *testing.T) {
	header := func(flags byte, rest string) []byte {
		b := make([]byte, 64, 256)
		copy(b[16:], buildInfoMagic)
		b[16+14], b[16+15] = 8, flags
		return append(b[:48], rest...)
	}
	sentinel := strings.Repeat("x", 16)
	mod := sentinel + "path\texample.com/m\nmod\texample.com/m\t(devel)\t\n" + sentinel
	good := header(flagsVersionInl, "\x08go1.26.0"+string(rune(len(mod)))+mod)
	if bi, err := Parse(good); err != nil || bi.Main.Path != "example.com/m" || bi.GoVersion != "go1.26.0" {
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
		if _, err := Parse(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
