package providertest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// Console records what a log sink reports on navius's console (the Console
// function of its settings, providers.LogSinkConfig.Console), so that a
// test can read it back: pass Log, read String.
type Console struct {
	mu    sync.Mutex
	lines []string
}

// Log records one console line as "level message fields".
func (c *Console) Log(level providers.LogLevel, msg string, fields map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, fmt.Sprintf("%s %s %v", level, msg, fields))
}

// String is every line recorded so far, one a line.
func (c *Console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// CheckReportedOnce checks that exactly one console line holds marker (a
// problem said once, not once per event), that the lines together hold
// each of wants (what went wrong and the option that fixes it), and that
// none shows secret.
func (c *Console) CheckReportedOnce(t testing.TB, marker, secret string, wants ...string) {
	t.Helper()
	out := c.String()
	if n := strings.Count(out, marker); n != 1 {
		t.Fatalf("%q reported %d times, want once:\n%s", marker, n, out)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if secret != "" && strings.Contains(out, secret) {
		t.Fatalf("the secret leaked into the console:\n%s", out)
	}
}
