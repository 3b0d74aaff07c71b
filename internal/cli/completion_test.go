package cli

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestComplete: what __complete offers after a command line cut at the
// cursor: commands, flags, whole feature lists, option keys and an
// option's choices, registered values (the builder's profiles); nothing
// where a file name goes, so that the shell completes one.
func TestComplete(t *testing.T) {
	env := &Env{Manifest: testManifest(t), Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr}
	a := NewApp(env)
	a.Commands = append(a.Commands, CompletionCommands(env)...)
	RegisterValues("config keys", func() []string { return []string{"registered-a", "registered-b"} })
	for line, want := range map[string][]string{
		"navius se":                             {"serve"},
		"navius co":                             {"completion", "config"},
		"navius config ":                        {"check", "keys", "sample"},
		"navius config keys re":                 {"registered-a", "registered-b"},
		"navius serve --log-f":                  {"--log-format", "--log-format="},
		"navius serve --log-format ":            {"json", "text"},
		"navius serve --log-format=j":           {"--log-format=json"},
		"navius serve --log-access ":            nil, // a boolean takes no value: serve takes no argument
		"navius serve --set log.fo":             {"log.format="},
		"navius serve --set log.format=":        {"log.format=json", "log.format=text"},
		"navius serve --set=log.format=t":       {"--set=log.format=text"},
		"navius serve --config ":                nil, // a file
		"navius completion ":                    nil,
		"navius serve -- ":                      nil,
		"navius __complete x":                   nil,
		"navius serve --listen 127.0.0.1:0 --h": {"--health-cache-ttl", "--health-check-interval", "--health-disk-min-free", "--health-disk-path", "--health-timeout", "--help"},
	} {
		got := complete(a, env, line)
		if !slices.Equal(got, want) {
			t.Errorf("complete(%q) = %q, want %q", line, got, want)
		}
	}
	// Features are completed one list item at a time, removals too.
	if got := complete(a, env, "navius x --features memory,re"); len(got) != 0 {
		t.Errorf("a flag the command lacks: %q", got)
	}
	if got := flagValues(env, "features", "memory,re"); !slices.Contains(got, "memory,redis") || !slices.Contains(got, "memory,default") {
		t.Errorf("feature list values: %q", got)
	}
	if got := flagValues(env, "features", "default,-b"); !slices.Contains(got, "default,-bolt") || slices.Contains(got, "default,bolt") {
		t.Errorf("feature removals: %q", got)
	}
}
