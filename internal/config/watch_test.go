package config

import (
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// TestCheckWatch: watch settings that would stall or starve streams are
// refused with the key and the fix; the defaults pass.
func TestCheckWatch(t *testing.T) {
	c, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkWatch(c.Settings); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for key, bad := range map[string]string{
		"watch.heartbeat":    "0s",
		"watch.max_watchers": "-1",
		"watch.buffer":       "0",
		"watch.history":      "-5",
	} {
		s := providers.Settings{}
		for k, v := range c.Settings {
			s[k] = v
		}
		s[key] = bad
		err := checkWatch(s)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %s: %v, want an error naming the key", key, bad, err)
		}
	}
}
