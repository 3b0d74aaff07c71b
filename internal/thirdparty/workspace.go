package thirdparty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Workspace is a temporary directory that builds and tests navius with
// modules added, without writing to the tree: a copy of the tree's go.mod
// and go.sum with the modules required (and replaced by their directory
// for the local form; go get against the copy pulls in their own
// requirements and sums), and an overlay that puts generated files into the
// tree's packages. The verification and the build use the same resolution,
// so what is verified is what is built.
type Workspace struct {
	// Src is the navius tree.
	Src string
	// Dir holds go.mod, go.sum, overlay.json and the generated files.
	Dir     string
	overlay map[string]string
	env     []string
}

// NewWorkspace makes the workspace for adding mods to the tree at src; env
// is added to the go commands' environment. Close removes it.
func NewWorkspace(ctx context.Context, src string, env []string, mods []*Module) (*Workspace, error) {
	src, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "navius-with-")
	if err != nil {
		return nil, err
	}
	w := &Workspace{Src: src, Dir: dir, overlay: map[string]string{}, env: env}
	if err := w.init(ctx, mods); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Workspace) init(ctx context.Context, mods []*Module) error {
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(w.Src, name))
		if err != nil && !(name == "go.sum" && os.IsNotExist(err)) {
			return err
		}
		if err := os.WriteFile(filepath.Join(w.Dir, name), data, 0o644); err != nil {
			return err
		}
	}
	modfile := "-modfile=" + w.ModFile()
	var edits, gets []string
	for _, m := range mods {
		version := m.Version
		if m.Local {
			if version == "" {
				version = "v0.0.0-00010101000000-000000000000" // what go itself requires a replaced module at
			}
			edits = append(edits, "-require="+m.Path+"@"+version, "-replace="+m.Path+"="+w.replacePath(m.Dir))
		}
		gets = append(gets, m.Path+"@"+version)
	}
	if len(edits) > 0 {
		if err := w.Go(ctx, append([]string{"mod", "edit", modfile}, edits...)...); err != nil {
			return err
		}
	}
	if len(gets) == 0 {
		return w.writeOverlay()
	}
	// go get resolves each module's own requirements into the copy (and
	// its go.sum), so a module may depend on libraries navius does not.
	if err := w.Go(ctx, append([]string{"get", modfile}, gets...)...); err != nil {
		return fmt.Errorf("--with: adding the modules to a copy of go.mod: %v", err)
	}
	return w.writeOverlay()
}

// replacePath is how the copy of go.mod names a module's local directory:
// relative to the tree (go reads a -modfile's relative replacements from
// the main module's directory), so that the binary's build information,
// which records it as written, says the same wherever the checkout is. It
// is never absolute: a directory on another volume (Windows) keeps its
// absolute path only because no relative one exists.
func (w *Workspace) replacePath(dir string) string {
	rel, err := filepath.Rel(w.Src, dir)
	if err != nil {
		return dir
	}
	rel = filepath.ToSlash(rel)
	if !strings.HasPrefix(rel, "../") {
		rel = "./" + rel
	}
	return rel
}

// Go runs the go command in the tree with the workspace's environment; its
// error carries go's whole message.
func (w *Workspace) Go(ctx context.Context, args ...string) error {
	_, err := w.Output(ctx, args...)
	return err
}

// Output runs the go command as Go does and returns its standard output.
func (w *Workspace) Output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = w.Src
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), w.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s %s: %s", args[0], args[1], goError(stderr.String(), err))
	}
	return string(out), nil
}

// goError is go's whole message on one line (its lines joined by "; ").
func goError(stderr string, err error) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return err.Error()
	}
	return strings.Join(lines, "; ")
}

// ModFile is the copy of go.mod.
func (w *Workspace) ModFile() string { return filepath.Join(w.Dir, "go.mod") }

// OverlayFile is the overlay (go build -overlay).
func (w *Workspace) OverlayFile() string { return filepath.Join(w.Dir, "overlay.json") }

// Flags are the go build and go test flags that use the workspace.
func (w *Workspace) Flags() []string {
	return []string{"-modfile=" + w.ModFile(), "-overlay=" + w.OverlayFile()}
}

// Add puts a generated file at path (a file in the tree, relative to its
// root) through the overlay.
func (w *Workspace) Add(path string, data []byte) error {
	gen := filepath.Join(w.Dir, filepath.Base(path))
	if err := os.WriteFile(gen, data, 0o644); err != nil {
		return err
	}
	w.overlay[filepath.Join(w.Src, filepath.FromSlash(path))] = gen
	return w.writeOverlay()
}

func (w *Workspace) writeOverlay() error {
	data, err := json.Marshal(map[string]map[string]string{"Replace": w.overlay})
	if err != nil {
		return err
	}
	return os.WriteFile(w.OverlayFile(), data, 0o644)
}

// Close removes the workspace.
func (w *Workspace) Close() { _ = os.RemoveAll(w.Dir) }
