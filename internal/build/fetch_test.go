package build

import (
	"archive/zip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The version fetched is the module version of the build information when
// it is one, else the stamped one; a development build has none.
func TestModuleVersion(t *testing.T) {
	cases := []struct{ main, stamped, want string }{
		{"v0.3.0", "dev", "v0.3.0"},     // go install MODULE@v0.3.0
		{"(devel)", "v0.3.0", "v0.3.0"}, // make package of a tag, -buildvcs=false
		{"v0.3.0", "v0.3.0", "v0.3.0"},  // make package of a tag
		{"v0.0.0-20261207062346-9f0782d1a2b3", "v0.2.0-5-g9f0782d", "v0.0.0-20261207062346-9f0782d1a2b3"}, // a pushed commit
		{"v0.3.1-0.20261207062346-9f0782d1a2b3+dirty", "v0.3.0-5-g9f0782d-dirty", ""},                     // a modified tree
		{"(devel)", "dev", ""},
		{"", "dev", ""},
		{"(devel)", "0.0.0-dev", ""},
		{"(devel)", "0.0.0-9f0782d", ""},
		{"(devel)", "v1.2", ""},
		{"(devel)", "v1.2.3+meta", ""},
		{"(devel)", "v01.2.3", ""},
		{"(devel)", "v1.2.3-rc.1", "v1.2.3-rc.1"},
	}
	for _, c := range cases {
		if got := ModuleVersion(c.main, c.stamped); got != c.want {
			t.Errorf("ModuleVersion(%q, %q) = %q, want %q", c.main, c.stamped, got, c.want)
		}
	}
}

// Credentials in a proxy URL never show in an error.
func TestRedactUserinfo(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:secret@proxy.corp/,https://proxy.golang.org,direct": "https://***@proxy.corp/,https://proxy.golang.org,direct",
		"file:///tmp/p|https://tok3n@proxy.corp/go":                       "file:///tmp/p|https://***@proxy.corp/go",
		`Get "https://user:***@127.0.0.1:1/x/@v/v1.info": refused`:        `Get "https://***@127.0.0.1:1/x/@v/v1.info": refused`,
		"off": "off",
	} {
		if got := redactUserinfo(in); got != want {
			t.Errorf("redactUserinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// Fetch goes through GOPROXY (here a file:// proxy into a module cache of
// the test's own) and returns the module's directory with the proxy's
// time and origin; a version the proxy lacks is a FetchError naming the
// proxy, with go's error whole.
func TestFetch(t *testing.T) {
	const version = "v0.99.1"
	proxy := t.TempDir()
	at := filepath.Join(proxy, filepath.FromSlash(Module), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod := "module " + Module + "\n\ngo 1.26.0\n"
	zf, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	for name, data := range map[string]string{"go.mod": gomod, "features.json": "{}\n"} {
		w, _ := zw.Create(Module + "@" + version + "/" + name)
		w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	for name, data := range map[string]string{
		"list":            version + "\n",
		version + ".mod":  gomod,
		version + ".info": `{"Version":"` + version + `","Time":"2026-03-04T05:06:07Z","Origin":{"VCS":"git","URL":"https://github.com/navius-dev/navius","Hash":"0123456789abcdef0123456789abcdef01234567"}}`,
	} {
		if err := os.WriteFile(filepath.Join(at, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goproxy := "file://" + filepath.ToSlash(proxy)
	t.Setenv("GOPROXY", goproxy)
	t.Setenv("GONOSUMDB", Module)
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOFLAGS", "-modcacherw") // so that the test can remove it

	f, err := Fetch(context.Background(), version)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != version || f.Revision != "0123456789abcdef0123456789abcdef01234567" || f.URL != "https://github.com/navius-dev/navius" ||
		!f.Time.Equal(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Errorf("Fetch: %+v", f)
	}
	if data, err := os.ReadFile(filepath.Join(f.Dir, "go.mod")); err != nil || string(data) != gomod {
		t.Errorf("Fetch's directory %s holds no go.mod of the module: %v %q", f.Dir, err, data)
	}
	if !strings.HasPrefix(f.Label(), "module cache "+Module+"@"+version+" (") {
		t.Errorf("Label: %s", f.Label())
	}

	_, err = Fetch(context.Background(), "v0.0.1-nonexistent")
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("Fetch of a version the proxy lacks: %v, want a FetchError", err)
	}
	if fe.GOPROXY != goproxy || !strings.HasPrefix(fe.Go, Module+"@v0.0.1-nonexistent: ") || strings.Contains(fe.Error(), "\n") {
		t.Errorf("FetchError: %+v", fe)
	}
}
