// Package modtest makes provider modules for the tests of the verified
// build (internal/thirdparty, e2e) from navius's example module, so that
// none is kept as a copy that could drift from it.
package modtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The deliberate bug of the broken copy: Delete reports a missing key as
// deleted.
const (
	correctDelete = "\tif errors.Is(err, fs.ErrNotExist) {\n\t\treturn false, nil\n\t}"
	brokenDelete  = "\tif errors.Is(err, fs.ErrNotExist) {\n\t\treturn true, nil // the deliberate bug: a missing key is reported as deleted\n\t}"
)

// BrokenFSDB writes into dir a copy of examples/fsdb of the navius tree at
// root with one bug, Delete reporting a missing key as deleted, and every
// name changed (module example.com/navius-brokenfsdb, package, provider,
// scheme and option brokenfsdb), so that both can go into one build. Its
// go.mod replaces navius with root. Its unit tests stay out: it exists to
// fail the conformance suites.
func BrokenFSDB(root, dir string) error {
	example := filepath.Join(root, "examples", "fsdb")
	for _, name := range []string{"go.mod", "fsdb.go", "names.go", "conformance_test.go", "navius-feature.json"} {
		src, err := os.ReadFile(filepath.Join(example, name))
		if err != nil {
			return err
		}
		s := strings.ReplaceAll(string(src), "examples/fsdb", "examples/FSDB")
		s = strings.ReplaceAll(s, "fsdb", "brokenfsdb")
		s = strings.ReplaceAll(s, "examples/FSDB", "examples/fsdb")
		switch name {
		case "go.mod":
			abs, err := filepath.Abs(root)
			if err != nil {
				return err
			}
			s = strings.Replace(s, "=> ../..\n", "=> "+abs+"\n", 1)
		case "fsdb.go":
			if strings.Count(s, correctDelete) != 1 {
				return fmt.Errorf("examples/fsdb/fsdb.go no longer has Delete's not-found branch exactly once:\n%s\nupdate internal/thirdparty/modtest", correctDelete)
			}
			s = strings.Replace(s, correctDelete, brokenDelete, 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Copy copies the regular files of the module at src into dst (made when
// missing), replacing old by new in the file named edit (when not empty),
// and a relative replace of navius in go.mod by root.
func Copy(src, dst, root, edit, old, new string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		s := string(data)
		if e.Name() == edit {
			if !strings.Contains(s, old) {
				return fmt.Errorf("%s no longer holds %q", filepath.Join(src, edit), old)
			}
			s = strings.Replace(s, old, new, 1)
		}
		if e.Name() == "go.mod" {
			for _, rel := range []string{"../../..", "../.."} {
				s = strings.Replace(s, "github.com/navius-dev/navius => "+rel+"\n", "github.com/navius-dev/navius => "+abs+"\n", 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), []byte(s), 0o644); err != nil {
			return err
		}
	}
	return nil
}
