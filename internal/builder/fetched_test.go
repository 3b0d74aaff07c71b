package builder

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
)

// A navius fetched into the module cache (read-only, no checkout) is
// described by what the proxy said, never by git (which would answer for
// whatever repository holds the module cache), and writes nothing under
// it: the default output is the working directory's bin/.
func TestFetchedTree(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	// A directory inside this checkout: git would answer for it.
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	f := &build.Fetched{Version: "v0.99.1", Dir: dir, Revision: "0123abc", URL: "https://user:secret@github.com/navius-dev/navius",
		Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	tr := &tree{dir: dir, fetched: f}
	if got := tr.outputDir(""); got != "bin" {
		t.Errorf("default output of a fetched navius: %q, want bin (the working directory's)", got)
	}
	if got := tr.outputDir("out"); got != "out" {
		t.Errorf("--output out: %q", got)
	}
	if v, r, g := tr.version(), tr.revision(), tr.git("rev-parse", "HEAD"); v != f.Version || r != f.Revision || g != "" {
		t.Errorf("version %q, revision %q, git %q: want the fetched version and revision, and no git", v, r, g)
	}
	if d := tr.sourceDate(); !d.Equal(f.Time) {
		t.Errorf("sourceDate %v, want the version's time %v", d, f.Time)
	}
	if s := tr.source(); s != "https://github.com/navius-dev/navius" {
		t.Errorf("image source label %q: want the origin without credentials", s)
	}
}
