package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/cli"
)

// checkBuiltConfig is --from-config's last step: the built binary's config
// check on file (checkConfig). A binary for another platform cannot run
// here, so the check is skipped, saying so and how to run it on the target
// rather than ending as if the config had been checked.
func checkBuiltConfig(ctx context.Context, w io.Writer, env *cli.Env, bin, file, goos, goarch string) error {
	if !isHost(goos, goarch) {
		fmt.Fprintf(w, "config:   check skipped: the binary is for %s/%s, which cannot run on this %s machine; on the target, run navius config check --config %s with serve's environment\n",
			goos, goarch, build.HostPlatform(), file)
		return nil
	}
	return checkConfig(ctx, w, env, bin, file)
}

// checkConfig runs the built binary's config check, the very checks its
// serve makes (each provider's own included), which this tool cannot make
// for providers it does not carry: on the config file that chose the
// features (--from-config), it refuses the build's outcome with the
// problems; with no file (the interactive walk), it says whether the
// binary starts as built or which settings it needs.
func checkConfig(ctx context.Context, w io.Writer, env *cli.Env, bin, file string) error {
	args := []string{"config", "check"}
	if file != "" {
		args = append(args, "--config", file)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env.Environ
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return fmt.Errorf("running %s config check: %w", bin, err)
	}
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if p, ok := strings.CutPrefix(line, "navius: config: "); ok {
			problems = append(problems, p)
		}
	}
	switch {
	case err == nil && file != "":
		fmt.Fprintf(w, "config:   %s passes the binary's config check\n", file)
	case err == nil:
		fmt.Fprintln(w, "start:    the binary starts with its defaults (navius config check passes)")
	case ee.ExitCode() != 2 || len(problems) == 0:
		return fmt.Errorf("%s config check failed: %s", bin, strings.TrimSpace(stderr.String()))
	case file != "":
		return cli.Usagef("--from-config %s: built %s, but its serve would refuse this config with this environment (set what it lacks, e.g. a secret's NAVIUS_* variable, before it starts):\n%s",
			file, bin, strings.Join(problems, "\n"))
	default:
		fmt.Fprintf(w, "start:    before it serves, the binary needs:\n          %s\n", strings.Join(problems, "\n          "))
	}
	return nil
}
