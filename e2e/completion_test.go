package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionScripts loads navius completion bash|zsh|fish into the real
// shells (bash, zsh and fish, which make test installs) and completes
// command lines with a default build as navius on PATH: a command, a
// feature list, an option key and its value, a profile, and make's
// FEATURES= (bash). zsh and bash get their completion functions called as
// the line editor would; fish answers complete -C itself.
func TestCompletionScripts(t *testing.T) {
	tool, _ := binary(t, "default")
	dir := t.TempDir()
	copyFile(t, tool, filepath.Join(dir, "navius"), 0o755)
	env := []string{"PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")}
	script := func(shell string) string {
		t.Helper()
		code, out, errOut := runIn(t, dir, "", tool, nil, "completion", shell)
		if code != 0 || out == "" {
			t.Fatalf("navius completion %s: exit %d %s", shell, code, errOut)
		}
		path := filepath.Join(dir, "navius."+shell)
		os.WriteFile(path, []byte(out), 0o644)
		return path
	}
	shell := func(name, program string) string {
		t.Helper()
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("%s is not installed: apt-get install -y %s (make test does)", name, name)
		}
		cmd := exec.Command(name, "-c", program)
		cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	check := func(shell, got, want string) {
		t.Helper()
		if strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s completion:\n%s\nwant:\n%s", shell, got, want)
		}
	}

	// bash splits words at = as its line editor does (COMP_WORDBREAKS).
	check("bash", shell("bash", `source `+script("bash")+`
t() { COMP_LINE="$1"; COMP_POINT=${#1}; COMP_WORDS=("${@:3}"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); $2; echo "${COMPREPLY[*]}"; }
t "navius bu" _navius navius bu
t "navius build --features memory,re" _navius navius build --features memory,re
t "navius build --features=po" _navius navius build --features = po
t "navius serve --set log.fo" _navius navius serve --set log.fo
t "navius serve --set log.format=j" _navius navius serve --set log.format = j
t "navius build --profile mi" _navius navius build --profile mi
t "make build FEATURES=default,pp" _navius_make make build FEATURES = default,pp
`), `build builder
memory,redis
postgres
log.format=
json
minimal
default,pprof`)

	check("zsh", shell("zsh", `compadd() { print -r -- "${@[-1]}"; }
_files() { print files; }
source `+script("zsh")+`
t() { BUFFER=$1; CURSOR=${#BUFFER}; words=(${=1}); _navius; }
t "navius build --features memory,re"
t "navius serve --set log.fo"
t "navius build --profile mi"
t "navius serve --config ./"
`), `memory,redis
log.format=
minimal
files`)

	check("fish", shell("fish", `source `+script("fish")+`
complete -C"navius bu"
complete -C"navius build --features memory,re"
complete -C"navius serve --set log.format="
complete -C"navius profile show st"
`), `build
builder
memory,redis
log.format=json
log.format=text
standard`)

	if code, _, errOut := runIn(t, dir, "", tool, nil, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, "bash, zsh or fish") {
		t.Errorf("completion tcsh: exit %d %q", code, errOut)
	}
}
