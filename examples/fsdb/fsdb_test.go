package fsdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/navius-dev/navius/providers"
)

// fsyncLog records every fsync with whether the key's final file existed at
// that moment.
type fsyncLog struct {
	mu    sync.Mutex
	final string
	calls []string
}

func (l *fsyncLog) sync(f *os.File) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := os.Stat(l.final)
	state := "absent"
	if err == nil {
		state = "present"
	}
	name := filepath.Base(f.Name())
	if strings.HasPrefix(name, tmpPrefix) {
		name = "tmp"
	}
	l.calls = append(l.calls, name+" (final "+state+")")
	return f.Sync()
}

// A write is acknowledged only after its temporary file was fsynced before
// the rename and the directory after it; a delete after the directory's
// fsync.
func TestFsyncOrder(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	db, err := Open(root, Config{})
	if err != nil {
		t.Fatal(err)
	}
	path, _ := db.keyPath("c", "k")
	cdir := filepath.Base(filepath.Dir(path))
	log := &fsyncLog{final: path}
	db.sync = log.sync

	if err := db.Set(ctx, "c", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Base(root) + " (final absent)", // the new collection's entry in the root
		"tmp (final absent)",                    // the value, before the rename
		cdir + " (final present)",               // the rename, before Set returns
	}
	if !slices.Equal(log.calls, want) {
		t.Fatalf("fsyncs of a first Set = %q, want %q", log.calls, want)
	}

	log.calls = nil
	if err := db.Set(ctx, "c", "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"tmp (final present)", cdir + " (final present)"}; !slices.Equal(log.calls, want) {
		t.Fatalf("fsyncs of an overwrite = %q, want %q", log.calls, want)
	}

	log.calls = nil
	if existed, err := db.Delete(ctx, "c", "k"); err != nil || !existed {
		t.Fatalf("Delete = %v, %v", existed, err)
	}
	if want := []string{cdir + " (final absent)"}; !slices.Equal(log.calls, want) {
		t.Fatalf("fsyncs of a Delete = %q, want %q", log.calls, want)
	}
}

// A failed fsync fails the write: nothing is acknowledged that may not be
// on disk, and the temporary file is removed.
func TestFsyncFailureFailsSet(t *testing.T) {
	db, err := Open(t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(context.Background(), "c", "first", []byte("v")); err != nil {
		t.Fatal(err)
	}
	db.sync = func(*os.File) error { return errors.New("input/output error") }
	err = db.Set(context.Background(), "c", "k", []byte("v"))
	if !errors.Is(err, providers.ErrUnavailable) || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("Set with a failing fsync = %v, want ErrUnavailable naming the cause", err)
	}
	path, _ := db.keyPath("c", "k")
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}

// File names sort like the keys they encode, use no upper-case letter and
// decode back to the key.
func TestNamesKeepOrderAndCase(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	keys := []string{"", "a", "a\x00", "a\xff", "b", "B", "ab", "\xff\xff", "\x00"}
	for range 2000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		keys = append(keys, string(b))
	}
	names := map[string]string{}
	for _, k := range keys {
		n, err := encodeName(keyPrefix, k)
		if err != nil {
			t.Fatal(err)
		}
		if n != strings.ToLower(n) || strings.ContainsAny(n, "/\\.") {
			t.Fatalf("name %q of key %q is not a safe lower-case file name", n, k)
		}
		if back, ok := decodeName(keyPrefix, n); !ok || back != k {
			t.Fatalf("name %q decodes to %q, %v; want %q", n, back, ok, k)
		}
		names[k] = n
	}
	byKey := slices.Clone(keys)
	sort.Strings(byKey)
	byName := slices.Clone(keys)
	sort.Slice(byName, func(i, j int) bool { return names[byName[i]] < names[byName[j]] })
	if !slices.Equal(byKey, byName) {
		t.Fatal("sorting by file name does not sort by key")
	}
	if _, err := encodeName(keyPrefix, strings.Repeat("x", MaxNameBytes+1)); !errors.Is(err, providers.ErrInvalid) {
		t.Fatalf("an over-long key: %v, want ErrInvalid", err)
	}
	for _, stray := range []string{".tmp-123", "k-", "k-0", "k-A0", "c-00", "notes.txt"} {
		if k, ok := decodeName(keyPrefix, stray); ok && stray != "k-" {
			t.Errorf("stray file %q decodes to key %q", stray, k)
		}
	}
}

// Files a crashed write leaves behind, and files that are not ours, are not
// keys.
func TestStrayFilesIgnored(t *testing.T) {
	ctx := context.Background()
	db, err := Open(t.TempDir(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if err := db.Set(ctx, "c", k, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	path, _ := db.keyPath("c", "a")
	dir := filepath.Dir(path)
	for _, stray := range []string{tmpPrefix + "123", "README", "k-A"} {
		if err := os.WriteFile(filepath.Join(dir, stray), []byte("v"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.Query(ctx, "c", providers.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range page.Items {
		keys = append(keys, it.Key)
	}
	if !slices.Equal(keys, []string{"a", "b"}) || page.NextCursor != "" {
		t.Fatalf("query = %q, cursor %q; want [a b] and no cursor", keys, page.NextCursor)
	}
}

// Data written with one DB is read by the next, in key order.
func TestReopenReadsInKeyOrder(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	db, err := OpenDatabase(ctx, providers.DatabaseConfig{URL: "fsdb://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"zeta", "alpha", "Mid", "mid"} {
		if err := db.Set(ctx, "c", k, []byte("value of "+k)); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	if err := db.Set(ctx, "c", "late", nil); !errors.Is(err, providers.ErrClosed) {
		t.Fatalf("Set after Close = %v, want ErrClosed", err)
	}
	again, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	cursor := ""
	for {
		page, err := again.Query(ctx, "c", providers.Query{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			keys = append(keys, it.Key)
			if !bytes.Equal(it.Value, []byte("value of "+it.Key)) {
				t.Fatalf("%s = %q", it.Key, it.Value)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if want := []string{"Mid", "alpha", "mid", "zeta"}; !slices.Equal(keys, want) {
		t.Fatalf("walk = %q, want %q", keys, want)
	}
}

func TestDirFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"fsdb:///var/lib/navius/data": "/var/lib/navius/data",
		"fsdb://./data":               "data",
		"fsdb:rel/data":               "rel/data",
		"FSDB:///abs/":                "/abs",
	} {
		got, err := DirFromURL(in)
		if err != nil || got != filepath.FromSlash(want) {
			t.Errorf("DirFromURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"fsdb://", "memory://x", "fsdb:///d?x=1", "fsdb://%zz"} {
		if got, err := DirFromURL(bad); !errors.Is(err, providers.ErrInvalid) {
			t.Errorf("DirFromURL(%q) = %q, %v; want ErrInvalid", bad, got, err)
		}
	}
}

func TestOpenRefusesAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, Config{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open of a file = %v", err)
	}
}

// Options are written once, in Go: the feature file leaves them out (the
// builder takes them from the package's declarations), and each one the
// package declares is under the feature's name.
func TestOptionsWrittenOnce(t *testing.T) {
	data, err := os.ReadFile("navius-feature.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Features []struct {
			Name    string
			Options *json.RawMessage
		}
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Features) != 1 || file.Features[0].Name != Name || file.Features[0].Options != nil {
		t.Fatalf("features = %+v, want one named %s without options", file.Features, Name)
	}
	var declared []string
	for _, o := range providers.Options() {
		if o.Feature == Name {
			declared = append(declared, o.Key)
			if !strings.HasPrefix(o.Key, Name+".") {
				t.Errorf("option %s is not under %s.", o.Key, Name)
			}
		}
	}
	if len(declared) == 0 {
		t.Fatalf("the package declares no option of %s", Name)
	}
}
