package buildinfo

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestReadFile reads this test binary's build information from its file,
// without running it, and finds what the running binary knows of itself.
func TestReadFile(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, err := ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bi, _ := debug.ReadBuildInfo()
	if info.Main != bi.Main.Path || info.GoVersion != runtime.Version() || info.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("ReadFile = main %q go %q platform %q; the running binary says %q %q %s/%s",
			info.Main, info.GoVersion, info.Platform, bi.Main.Path, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	if len(info.Modules) != len(bi.Deps) {
		t.Fatalf("ReadFile found %d modules, the running binary %d", len(info.Modules), len(bi.Deps))
	}
	notGo := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notGo, []byte("#!/bin/sh\necho hi\n"), 0o755)
	if _, err := ReadFile(notGo); err == nil {
		t.Fatal("ReadFile of a shell script succeeded")
	}
}

func TestStamped(t *testing.T) {
	ld := "-s -w -X github.com/navius-dev/navius/internal/buildinfo.Version=v1.2.3 -X github.com/navius-dev/navius/internal/buildinfo.Revision=abc"
	if v, r := stamped(ld, "Version"), stamped(ld, "Revision"); v != "v1.2.3" || r != "abc" {
		t.Fatalf("stamped = %q %q", v, r)
	}
	if v := stamped("-s -w", "Version"); v != "" {
		t.Fatalf("stamped without -X = %q", v)
	}
}
