package app

import (
	"errors"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/config"
	"github.com/navius-dev/navius/internal/manifest"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

func init() {
	providers.RegisterDatabase("memory", []string{"memory"}, memory.OpenDatabase)
	providers.RegisterCache("memory", []string{"memory"}, memory.OpenCache)
}

func realManifest(t *testing.T) *manifest.Manifest {
	t.Helper()
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRebuildHintsKeepTheBinarysFeatures: on a memory,splunk binary, every
// hint to rebuild names memory and splunk plus what is missing.
func TestRebuildHintsKeepTheBinarysFeatures(t *testing.T) {
	_, err := Validate(Options{
		Manifest: realManifest(t),
		Compiled: []string{"memory", "splunk"},
		Environ:  []string{"NAVIUS_DATABASE_URL=redis://db:6379/0", "NAVIUS_DYNATRACE_ENDPOINT=https://x"},
		Flags:    []config.Flag{{Key: "redis.db", Value: "1", Name: "set redis.db"}},
	})
	var errs config.Errors
	if !errors.As(err, &errs) || len(errs) != 2 {
		t.Fatalf("err = %v, want two problems", err)
	}
	for _, e := range errs {
		if !strings.HasSuffix(e.Error(), "rebuild with FEATURES=memory,splunk,redis") {
			t.Errorf("hint drops the binary's features: %v", e)
		}
	}
	v, err := Validate(Options{Manifest: realManifest(t), Compiled: []string{"memory", "splunk"}, Environ: []string{"NAVIUS_DYNATRACE_ENDPOINT=https://x"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(v.Config.Warnings, "\n"); !strings.Contains(w, "rebuild with FEATURES=memory,splunk,dynatrace") {
		t.Errorf("warning: %q", w)
	}
}
