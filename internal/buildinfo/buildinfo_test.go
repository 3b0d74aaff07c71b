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

// TestFillReplaced: a module replaced by a directory (navius build --with
// MODULE=DIR) keeps its path, with version (devel) and the directory.
func TestFillReplaced(t *testing.T) {
	var info Info
	info.Modules, info.Replaced = map[string]string{}, map[string]string{}
	info.fill(&debug.BuildInfo{Deps: []*debug.Module{
		{Path: "example.com/a", Version: "v0.0.0-00010101000000-000000000000", Replace: &debug.Module{Path: "/src/a", Version: "(devel)"}},
		{Path: "example.com/b", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1"}},
		{Path: "example.com/c", Version: "v2.0.0"},
	}})
	for path, want := range map[string][2]string{
		"example.com/a": {"(devel)", "/src/a"},
		"example.com/b": {"v1.0.1", "example.com/fork@v1.0.1"},
		"example.com/c": {"v2.0.0", ""},
	} {
		if info.Modules[path] != want[0] || info.Replaced[path] != want[1] {
			t.Errorf("%s: version %q replaced %q, want %q %q", path, info.Modules[path], info.Replaced[path], want[0], want[1])
		}
	}
}
