package buildinfo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
)

// The Go linker (1.18 and later) writes a binary's build information as a
// 32-byte header starting with buildInfoMagic, 16-byte aligned, followed by
// two varint-prefixed strings: the Go version and the module information
// (the text `go version -m` prints) framed by 16-byte sentinels. This is the
// format debug/buildinfo reads; finding it by scanning the bytes instead
// works for ELF, Mach-O and PE alike and keeps debug/elf, debug/macho and
// debug/pe (about 600 KB of name tables) out of the builder, which reads
// binaries (build --like, sbom, package).
var buildInfoMagic = []byte("\xff Go buildinf:")

const (
	buildInfoAlign      = 16
	buildInfoHeaderSize = 32
	flagsVersionInl     = 0x2 // strings inline after the header (Go 1.18+)
)

// ErrNoBuildInfo says a file holds no Go build information: it is not a Go
// binary, or one from before Go 1.18.
var ErrNoBuildInfo = errors.New("no Go build information (Go 1.18 or later writes it into every binary)")

// Parse finds and parses the build information in a Go binary held in
// memory, as debug/buildinfo.Read does. Any other copy of the magic bytes (a
// program may hold them as a constant, as this one does) fails the
// structural checks and the search goes on.
func Parse(data []byte) (*debug.BuildInfo, error) {
	for off := 0; off < len(data); {
		i := bytes.Index(data[off:], buildInfoMagic)
		if i < 0 {
			break
		}
		start := off + i
		off = start + 1
		if start%buildInfoAlign != 0 || len(data)-start < buildInfoHeaderSize {
			continue
		}
		if data[start+len(buildInfoMagic)+1]&flagsVersionInl == 0 {
			continue
		}
		version, rest, ok := varintString(data[start+buildInfoHeaderSize:])
		if !ok || !strings.HasPrefix(version, "go") && !strings.HasPrefix(version, "devel") {
			continue
		}
		mod, _, ok := varintString(rest)
		if !ok || len(mod) < 33 || mod[len(mod)-17] != '\n' {
			continue
		}
		bi, err := debug.ParseBuildInfo(mod[16 : len(mod)-16])
		if err != nil {
			return nil, fmt.Errorf("unreadable Go build information: %v", err)
		}
		bi.GoVersion = version
		return bi, nil
	}
	return nil, ErrNoBuildInfo
}

// varintString reads a uvarint length and that many bytes.
func varintString(b []byte) (string, []byte, bool) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return "", nil, false
	}
	return string(b[size : size+int(n)]), b[size+int(n):], true
}
