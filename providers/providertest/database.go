package providertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
)

// OpenDatabase opens a fresh, empty database for one case. The suite
// closes it; open registers any other cleanup with t.Cleanup and fails t
// (t.Fatal) when the database can't be opened.
type OpenDatabase func(t *testing.T) providers.Database

// DatabaseHarness is what the database suite needs from a provider.
type DatabaseHarness struct {
	// Open opens a fresh, empty database for each case. It may be nil when
	// Storage is set.
	Open OpenDatabase
	// Storage, for providers that persist data, returns an opener of new,
	// empty storage (a directory, a file, a schema) whose every call opens
	// that same storage again. With it the suite adds the Durable case:
	// what Set and Delete acknowledged is still there after Close and a
	// reopen.
	Storage func(t *testing.T) OpenDatabase
	// Config, the best harness for a provider navius opens by URL, returns
	// the config of new, empty storage in dir, a fresh directory the suite
	// made (a provider whose storage is elsewhere, a server, ignores dir
	// and names a fresh place there: a schema, a key prefix). The suite
	// opens it through navius's registry (providers.OpenDatabase), as a
	// server so configured would, and again on the same storage whenever a
	// case reopens it, also from another process (CrashDurable). It stands
	// for Open and, unless Volatile, Storage.
	Config func(t *testing.T, dir string) providers.DatabaseConfig
	// Volatile says that the database opened by Config keeps nothing once
	// closed (an in-memory provider): the cases that reopen storage do not
	// run.
	Volatile bool
	// Durable says that the provider promises what it acknowledges to
	// survive a crash. With Config it adds the CrashDurable case: a child
	// process writes and deletes until it is killed with SIGKILL at a
	// random point; every write and delete it saw acknowledged must be
	// there when the storage is opened again. Where the suite may mount a
	// file system (root on Linux, with mkfs.ext4), dir is on a loop-mounted
	// ext4 image and the machine's crash is simulated too: only what was
	// synced to the image survives, as after a power loss.
	Durable bool
}

// opener is the harness's Open, or a fresh Storage opened once.
func (h DatabaseHarness) opener() OpenDatabase {
	if h.Open != nil {
		return h.Open
	}
	if h.Volatile {
		return func(t *testing.T) providers.Database { return openConfig(t, h.Config(t, t.TempDir())) }
	}
	storage := h.storage()
	return func(t *testing.T) providers.Database { return storage(t)(t) }
}

// storage is the harness's Storage, or one made of Config; nil for a
// harness with Open only.
func (h DatabaseHarness) storage() func(t *testing.T) OpenDatabase {
	if h.Storage != nil || h.Config == nil || h.Volatile {
		return h.Storage
	}
	return func(t *testing.T) OpenDatabase {
		cfg := h.Config(t, t.TempDir())
		return func(t *testing.T) providers.Database { return openConfig(t, cfg) }
	}
}

// openConfig opens a database through the registry, as navius does.
func openConfig(t *testing.T, cfg providers.DatabaseConfig) providers.Database {
	t.Helper()
	db, _, err := providers.OpenDatabase(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", providers.Redact(cfg.URL), err)
	}
	return db
}

// TestDatabase runs the database conformance suite on databases that open
// returns; it is RunDatabaseTests with DatabaseHarness{Open: open}.
func TestDatabase(t *testing.T, open OpenDatabase) {
	t.Helper()
	RunDatabaseTests(t, DatabaseHarness{Open: open})
}

// RunDatabaseTests runs the database conformance suite: every case of
// providers.Database's contract, each on a fresh database, as subtests of
// "navius.database.v2", then the cases of each optional capability
// (providers.Versioned, Expiring, Batcher) the database implements.
func RunDatabaseTests(t *testing.T, h DatabaseHarness) {
	t.Helper()
	if h.Open == nil && h.Storage == nil && h.Config == nil {
		t.Fatal("providertest: DatabaseHarness needs Open, Storage or Config")
	}
	if h.Durable && (h.Config == nil || h.Volatile) {
		t.Fatal("providertest: DatabaseHarness.Durable needs Config, so that another process can open the same storage, and no Volatile")
	}
	open, storage := h.opener(), h.storage()
	runSuite(t, conformance.Database, func(s *suiteRun) {
		if crashWriterOrder() != "" {
			// A child process of CrashDurable: only that case runs.
			s.run(conformance.CrashCase, func(t *testing.T) { crashDurable(t, s, h) })
			return
		}
		databaseCases(s, open)
		if storage != nil {
			s.run("Durable", func(t *testing.T) { durable(t, s, storage(t)) })
		}
		if h.Durable {
			s.run(conformance.CrashCase, func(t *testing.T) { crashDurable(t, s, h) })
		}
		// The optional capabilities' cases, for those the provider has.
		// The probe is no subtest: every subtest of the suite is a case.
		probe := open(s.t)
		_ = probe.Close()
		capabilityCases(s, open, probe)
		if _, ok := probe.(providers.Expiring); ok && storage != nil {
			s.run("ExpiryDurable", func(t *testing.T) { expiryDurable(t, s, storage(t)) })
		}
	})
}

func databaseCases(s *suiteRun, open OpenDatabase) {
	ctx := context.Background()
	run := func(name string, fn func(t *testing.T, db providers.Database)) {
		s.run(name, func(t *testing.T) {
			db := open(t)
			s.tested(db)
			t.Cleanup(func() { _ = db.Close() })
			fn(t, db)
		})
	}

	run("GetMissing", func(t *testing.T, db providers.Database) {
		if _, err := db.Get(ctx, "things", "nope"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
		}
		mustSet(t, db, "things", "a", "1")
		if _, err := db.Get(ctx, "things", "nope"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get of a missing key in an existing collection: err = %v, want ErrNotFound", err)
		}
	})

	run("SetGetOverwrite", func(t *testing.T, db providers.Database) {
		mustSet(t, db, "things", "k", "first")
		mustGet(t, db, "things", "k", "first")
		mustSet(t, db, "things", "k", "second")
		mustGet(t, db, "things", "k", "second")
	})

	run("ValuesAreCopied", func(t *testing.T, db providers.Database) {
		buf := []byte("original")
		if err := db.Set(ctx, "c", "k", buf); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXXXXX")
		got, err := db.Get(ctx, "c", "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "original" {
			t.Fatalf("stored value changed with the caller's buffer: %q", got)
		}
		copy(got, "YYYYYYYY")
		mustGet(t, db, "c", "k", "original")
	})

	run("EmptyAndBinaryValues", func(t *testing.T, db providers.Database) {
		mustSet(t, db, "c", "empty", "")
		mustGet(t, db, "c", "empty", "")
		bin := string([]byte{0, 1, 2, 0xff, 0xfe, '\n', 0})
		mustSet(t, db, "c", "bin", bin)
		mustGet(t, db, "c", "bin", bin)
		big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		mustSet(t, db, "c", "big", big)
		mustGet(t, db, "c", "big", big)
	})

	run("Delete", func(t *testing.T, db providers.Database) {
		mustSet(t, db, "c", "k", "v")
		existed, err := db.Delete(ctx, "c", "k")
		if err != nil || !existed {
			t.Fatalf("Delete of a present key = %v, %v; want true, nil", existed, err)
		}
		if _, err := db.Get(ctx, "c", "k"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
		}
		existed, err = db.Delete(ctx, "c", "k")
		if err != nil || existed {
			t.Fatalf("second Delete = %v, %v; want false, nil", existed, err)
		}
		existed, err = db.Delete(ctx, "never", "k")
		if err != nil || existed {
			t.Fatalf("Delete in a missing collection = %v, %v; want false, nil", existed, err)
		}
	})

	run("CollectionsAreSeparate", func(t *testing.T, db providers.Database) {
		mustSet(t, db, "a", "k", "in a")
		mustSet(t, db, "b", "k", "in b")
		mustSet(t, db, "a:b", "k", "in a:b")
		mustSet(t, db, "a", "b:k", "in a, key b:k")
		mustGet(t, db, "a", "k", "in a")
		mustGet(t, db, "b", "k", "in b")
		mustGet(t, db, "a:b", "k", "in a:b")
		if _, err := db.Delete(ctx, "a", "k"); err != nil {
			t.Fatal(err)
		}
		mustGet(t, db, "b", "k", "in b")
		page, err := db.Query(ctx, "a", providers.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].Key != "b:k" {
			t.Fatalf("query of collection a = %v, want only b:k", keysOf(page.Items))
		}
	})

	run("AwkwardNames", awkwardNames)

	run("QueryFilter", func(t *testing.T, db providers.Database) {
		mustSet(t, db, "pets", "1", `{"kind":"cat","name":"Tom"}`)
		mustSet(t, db, "pets", "2", `{"kind":"dog","name":"Rex"}`)
		mustSet(t, db, "pets", "3", `{"kind":"cat","name":"Kit"}`)
		mustSet(t, db, "other", "4", `{"kind":"cat"}`)
		got := walk(t, db, "pets", `"cat"`, 0)
		if want := []string{"1", "3"}; !equalKeys(got, want) {
			t.Fatalf("filter cat = %v, want %v", got, want)
		}
		if got := walk(t, db, "pets", "", 0); len(got) != 3 {
			t.Fatalf("empty filter = %v, want all 3", got)
		}
		if got := walk(t, db, "pets", "no such thing", 0); len(got) != 0 {
			t.Fatalf("filter with no match = %v", got)
		}
		if got := walk(t, db, "missing", "", 0); len(got) != 0 {
			t.Fatalf("query of a missing collection = %v", got)
		}
	})

	run("QueryPaging", func(t *testing.T, db providers.Database) {
		const n = 257
		want := make([]string, 0, n)
		for i := range n {
			k := fmt.Sprintf("key-%04d", i)
			want = append(want, k)
			mustSet(t, db, "big", k, fmt.Sprintf("value %d even=%v", i, i%2 == 0))
		}
		for _, limit := range []int{1, 7, 100, 256, 257, 1000} {
			got := walk(t, db, "big", "", limit)
			if !equalKeys(got, want) {
				t.Fatalf("limit %d: walked %d keys, want %d each once", limit, len(got), n)
			}
		}
		var even []string
		for i, k := range want {
			if i%2 == 0 {
				even = append(even, k)
			}
		}
		if got := walk(t, db, "big", "even=true", 10); !equalKeys(got, even) {
			t.Fatalf("filtered walk: %d keys, want %d", len(got), len(even))
		}
		// The default limit applies when none is given.
		page, err := db.Query(ctx, "big", providers.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != providers.DefaultLimit || page.NextCursor == "" {
			t.Fatalf("default page: %d items, cursor %q; want %d and a cursor", len(page.Items), page.NextCursor, providers.DefaultLimit)
		}
	})

	run("QueryWalkSurvivesWrites", func(t *testing.T, db providers.Database) {
		var stable []string
		for i := range 50 {
			k := fmt.Sprintf("s%03d", i)
			stable = append(stable, k)
			mustSet(t, db, "w", k, "stable")
		}
		seen := WalkKeys(t, db, "w", providers.Query{Limit: 7}, 1000, func(i int, _ providers.Page) {
			// Churn between pages: add and remove entries that are not
			// part of the stable set.
			mustSet(t, db, "w", fmt.Sprintf("n%03d", i), "new")
			mustSet(t, db, "w", fmt.Sprintf("a%03d", i), "new")
			if _, err := db.Delete(ctx, "w", fmt.Sprintf("n%03d", i)); err != nil {
				t.Fatal(err)
			}
		})
		for _, k := range stable {
			if seen[k] != 1 {
				t.Fatalf("stable key %s seen %d times, want exactly once", k, seen[k])
			}
		}
	})

	run("MalformedCursor", func(t *testing.T, db providers.Database) {
		mustSet(t, db, "c", "k", "v")
		_, err := db.Query(ctx, "c", providers.Query{Cursor: "!!not a cursor!!"})
		if !errors.Is(err, providers.ErrInvalid) {
			t.Fatalf("malformed cursor: err = %v, want ErrInvalid", err)
		}
	})

	run("Concurrent", func(t *testing.T, db providers.Database) {
		err := Concurrently(8, 50, func(w, i int) error {
			k := fmt.Sprintf("w%d-%d", w, i)
			if err := db.Set(ctx, "conc", k, []byte(k)); err != nil {
				return err
			}
			got, err := db.Get(ctx, "conc", k)
			if err != nil || string(got) != k {
				return fmt.Errorf("read own write %s: %q, %v", k, got, err)
			}
			if i%10 == 0 {
				_, err = db.Query(ctx, "conc", providers.Query{Limit: 5})
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := walk(t, db, "conc", "", 100); len(got) != 400 {
			t.Fatalf("after concurrent writes: %d keys, want 400", len(got))
		}
	})

	run("HonoursContext", databaseHonoursContext)

	run("HonoursContextWhileBlocked", databaseHonoursContextWhileBlocked)

	run("CloseWhileBusy", databaseCloseWhileBusy)

	run("PingAndClose", func(t *testing.T, db providers.Database) {
		if err := db.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := db.Get(ctx, "c", "k"); err == nil || errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get after Close: err = %v, want a closed error", err)
		}
		if err := db.Set(ctx, "c", "k", []byte("v")); err == nil {
			t.Fatal("Set after Close succeeded")
		}
	})
}

func mustSet(t *testing.T, db providers.Database, coll, key, value string) {
	t.Helper()
	if err := db.Set(context.Background(), coll, key, []byte(value)); err != nil {
		t.Fatalf("Set %s/%s: %v", coll, key, err)
	}
}

func mustGet(t *testing.T, db providers.Database, coll, key, want string) {
	t.Helper()
	got, err := db.Get(context.Background(), coll, key)
	if err != nil {
		t.Fatalf("Get %s/%s: %v", coll, key, err)
	}
	if !bytes.Equal(got, []byte(want)) {
		t.Fatalf("Get %s/%s = %.40q, want %.40q", coll, key, got, want)
	}
}

// walk pages through a query, checking each page's bound and that no key
// repeats, and returns the keys seen.
func walk(t *testing.T, db providers.Database, coll, filter string, limit int) []string {
	t.Helper()
	var keys []string
	seen := map[string]bool{}
	most := (providers.Query{Limit: limit}).EffectiveLimit()
	WalkKeys(t, db, coll, providers.Query{Filter: filter, Limit: limit}, 100_000, func(_ int, p providers.Page) {
		if len(p.Items) > most {
			t.Fatalf("page of %d items exceeds limit %d", len(p.Items), most)
		}
		for _, it := range p.Items {
			if seen[it.Key] {
				t.Fatalf("key %q returned twice", it.Key)
			}
			seen[it.Key] = true
			if !strings.Contains(string(it.Value), filter) {
				t.Fatalf("key %q value %q does not match filter %q", it.Key, it.Value, filter)
			}
			keys = append(keys, it.Key)
		}
	})
	return keys
}

func keysOf(items []providers.Item) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys
}

func equalKeys(got, want []string) bool {
	g := append([]string(nil), got...)
	w := append([]string(nil), want...)
	sort.Strings(g)
	sort.Strings(w)
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if g[i] != w[i] {
			return false
		}
	}
	return true
}

// awkwardKeys are keys and collection names every provider must store
// exactly and keep apart: a provider that maps names to files, paths or
// key spaces must escape them, and must not fold case.
var awkwardKeys = []string{
	"a/b", `a\b`, "../up", ".", "..", ".hidden", "with space", "tab\tand\nnewline",
	"üñíçødé ✓", "UPPER", "upper", "%2F", "a:b", "-", "_", "~", "*", "?", "con", "nul",
	strings.Repeat("0123456789", 10),
}

var awkwardCollections = []string{"a/b", "..", ".", "UPPER", "upper", "üñí", "with space", "%2F"}

func awkwardNames(t *testing.T, db providers.Database) {
	ctx := context.Background()
	for _, k := range awkwardKeys {
		mustSet(t, db, "names", k, "value of "+k)
	}
	for _, k := range awkwardKeys {
		mustGet(t, db, "names", k, "value of "+k)
	}
	if got := walk(t, db, "names", "", 7); !equalKeys(got, awkwardKeys) {
		t.Fatalf("walk of awkward keys = %q, want %q", got, awkwardKeys)
	}
	for _, c := range awkwardCollections {
		mustSet(t, db, c, "k", "in "+c)
	}
	for _, c := range awkwardCollections {
		mustGet(t, db, c, "k", "in "+c)
		if got := walk(t, db, c, "", 0); !equalKeys(got, []string{"k"}) {
			t.Fatalf("collection %q holds %q, want only k", c, got)
		}
	}
	// A name the backend can't store is refused with ErrInvalid, never
	// truncated or folded into another.
	long := strings.Repeat("k", 1000)
	if err := db.Set(ctx, "names", long, []byte("long")); err != nil {
		if !errors.Is(err, providers.ErrInvalid) {
			t.Fatalf("Set of a 1000-byte key: %v, want success or ErrInvalid", err)
		}
		if got := walk(t, db, "names", "long", 0); len(got) != 0 {
			t.Fatalf("a refused key shows up in a query: %q", got)
		}
	} else {
		mustGet(t, db, "names", long, "long")
	}
}

// durable checks that acknowledged writes and deletes survive Close and a
// reopen of the same storage.
func durable(t *testing.T, s *suiteRun, open OpenDatabase) {
	ctx := context.Background()
	db := open(t)
	s.tested(db)
	want := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		mustSet(t, db, "kept", k, "v"+k)
		want[k] = "v" + k
	}
	mustSet(t, db, "kept", "k03", "overwritten")
	want["k03"] = "overwritten"
	if existed, err := db.Delete(ctx, "kept", "k05"); err != nil || !existed {
		t.Fatalf("Delete k05 = %v, %v", existed, err)
	}
	delete(want, "k05")
	mustSet(t, db, "kept", "a/b", "awkward")
	want["a/b"] = "awkward"
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	again := open(t)
	s.tested(again)
	t.Cleanup(func() { _ = again.Close() })
	for k, v := range want {
		mustGet(t, again, "kept", k, v)
	}
	if _, err := again.Get(ctx, "kept", "k05"); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("a deleted key is back after reopen: err = %v", err)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	if got := walk(t, again, "kept", "", 6); !equalKeys(got, keys) {
		t.Fatalf("after reopen the collection holds %q, want %q", got, keys)
	}
}
