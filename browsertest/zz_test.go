package browsertest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestZNothingWrittenOutside runs last (its file sorts last): builder serve wrote
// nothing into TMPDIR or the source tree, and its temporary build
// directories are gone.
func TestZNothingWrittenOutside(t *testing.T) {
	for _, d := range []string{filepath.Join(tmp, "tmpdir"), filepath.Join(tmp, "work"), filepath.Join(tmp, "cache", "tmp")} {
		// A cancelled build cleans up as it ends: give it a moment.
		deadline := time.Now().Add(time.Minute)
		for {
			entries, err := os.ReadDir(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s holds %d entries (first %s): builder serve left files there", d, len(entries), entries[0].Name())
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if got := gitStatus(); got != statusOut {
		t.Errorf("the source tree changed:\nbefore:\n%s\nafter:\n%s", statusOut, got)
	}
}
