package build

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Fetched is navius at one version in the Go module cache: a source tree
// the builder builds from without a clone. The module cache is read-only,
// so nothing may be written under Dir.
type Fetched struct {
	// Version is the module version (a query such as latest, resolved).
	Version string
	// Dir is its directory in the module cache.
	Dir string
	// Revision and URL are the commit and repository the module proxy
	// recorded for the version (its origin); "" when it recorded none.
	Revision, URL string
	// Time is the version's time, as the proxy gives it.
	Time time.Time
}

// Label names the source in messages: module cache MODULE@VERSION (DIR).
func (f *Fetched) Label() string {
	return fmt.Sprintf("module cache %s@%s (%s)", Module, f.Version, f.Dir)
}

// FetchError is a version the module proxies in force could not give.
type FetchError struct {
	Version string
	// GOPROXY is the proxy list in force (go env GOPROXY).
	GOPROXY string
	// Go is go mod download's error, whole, on one line.
	Go string
}

func (e *FetchError) Error() string {
	return "navius " + e.Version + " is not available " + e.Through()
}

// Through says where the version was looked for, and go's answer.
func (e *FetchError) Through() string {
	return fmt.Sprintf("through GOPROXY=%s (go mod download: %s)", e.GOPROXY, e.Go)
}

// Fetch downloads navius at version (a version, or a query go accepts,
// such as latest) through the Go module settings in force (GOPROXY,
// GONOSUMDB, GOPRIVATE, GOFLAGS, ... as the user has them), the way
// go mod download does it, and returns where it is in the module cache.
// A version the proxies do not have is a *FetchError.
func Fetch(ctx context.Context, version string) (*Fetched, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return nil, errors.New("the Go toolchain is not on PATH: install Go 1.26 or later (https://go.dev/dl/) to build navius")
	}
	// An empty directory: no go.mod or go.work of the caller's applies.
	tmp, err := os.MkdirTemp("", "navius-fetch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", Module+"@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var got struct {
		Version, Dir, Info, Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || got.Error != "" || runErr != nil || got.Dir == "" {
		msg := got.Error
		if msg == "" {
			msg = strings.TrimSpace(stderr.String())
		}
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return nil, &FetchError{Version: version, GOPROXY: redactUserinfo(goEnv(goBin, "GOPROXY")), Go: redactUserinfo(oneLineText(msg))}
	}
	f := &Fetched{Version: got.Version, Dir: got.Dir}
	// The .info file: the version's time and, from proxies that record
	// it, the commit it was made from.
	if data, err := os.ReadFile(got.Info); err == nil {
		var info struct {
			Time   time.Time
			Origin struct{ URL, Hash string }
		}
		if json.Unmarshal(data, &info) == nil {
			f.Time, f.Revision, f.URL = info.Time.UTC(), info.Origin.Hash, info.Origin.URL
		}
	}
	return f, nil
}

// goEnv is go env NAME, "" when go cannot say.
func goEnv(goBin, name string) string {
	out, err := exec.Command(goBin, "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// oneLineText joins the lines of a multi-line message (go's errors
// continue on tab-indented lines) so that it is shown whole on one line.
func oneLineText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// userinfo is the credentials part of a URL (user:password@, or a token
// as the user name).
var userinfo = regexp.MustCompile(`://[^/@\s"',|]+@`)

// redactUserinfo hides the credentials of every URL in s (a GOPROXY list,
// or go's error, which hides a password but not a token given as the user
// name): errors are shown on the builder's page and in logs.
func redactUserinfo(s string) string {
	return userinfo.ReplaceAllString(s, "://***@")
}

// moduleVersion matches a version the module proxy can serve: semantic,
// with a prerelease (pseudo-versions are such) but no build metadata.
var moduleVersion = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)

// ModuleVersion is the version of navius a binary was built from, as the
// module proxy knows it, or "" for a development build, which no proxy
// serves. main is the main module's version in the binary's build
// information (go install MODULE@VERSION records it; a build in a
// checkout records (devel), or with VCS stamping a pseudo-version, +dirty
// when modified); stamped is the version -ldflags set (internal/buildinfo:
// dev unstamped, git describe's output from make build). The first that is
// a module version wins; a modified tree's is not.
func ModuleVersion(main, stamped string) string {
	for _, v := range []string{main, stamped} {
		if moduleVersion.MatchString(v) && !strings.HasSuffix(v, "-dirty") {
			return v
		}
	}
	return ""
}
