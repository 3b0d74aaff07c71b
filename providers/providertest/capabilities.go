package providertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/providers"
)

// The cases of the optional capabilities (providers.Versioned, Expiring,
// Batcher). RunDatabaseTests runs each group when the opened database
// implements its capability, in the same suite, so that a provider cannot
// claim a capability without passing its cases.

// capabilityCases runs the cases of every capability probe implements.
func capabilityCases(s *suiteRun, open OpenDatabase, probe providers.Database) {
	if _, ok := probe.(providers.Versioned); ok {
		conditionalCases(s, open)
	}
	if _, ok := probe.(providers.Expiring); ok {
		expiryCases(s, open)
	}
	if _, ok := probe.(providers.Batcher); ok {
		_, expiring := probe.(providers.Expiring)
		batchCases(s, open, expiring)
	}
}

func runWith[T providers.Database](s *suiteRun, open OpenDatabase, name string, fn func(t *testing.T, db T)) {
	s.run(name, func(t *testing.T) {
		db := open(t)
		s.tested(db)
		t.Cleanup(func() { _ = db.Close() })
		c, ok := db.(T)
		if !ok {
			t.Fatalf("%T does not implement the capability this case checks, though another database from the same opener did", db)
		}
		fn(t, c)
	})
}

func mustPut(t *testing.T, db providers.Versioned, coll, key, value string, w providers.Write) string {
	t.Helper()
	v, err := db.Put(context.Background(), coll, key, []byte(value), w)
	if err != nil {
		t.Fatalf("Put %s/%s: %v", coll, key, err)
	}
	if !providers.ValidVersion(v) {
		t.Fatalf("Put %s/%s returned version %q: want 1-64 bytes of '!' and '#' to '~'", coll, key, v)
	}
	return v
}

func mustEntry(t *testing.T, db providers.Versioned, coll, key string) providers.Entry {
	t.Helper()
	e, err := db.GetEntry(context.Background(), coll, key)
	if err != nil {
		t.Fatalf("GetEntry %s/%s: %v", coll, key, err)
	}
	return e
}

// wantPrecondition checks that err is a failed precondition that reports
// the entry as it is.
func wantPrecondition(t *testing.T, what string, err error, exists bool, version string) *providers.PreconditionError {
	t.Helper()
	var pe *providers.PreconditionError
	if !errors.As(err, &pe) || !errors.Is(err, providers.ErrPrecondition) {
		t.Fatalf("%s: err = %v, want a *providers.PreconditionError", what, err)
	}
	if pe.Exists != exists || (exists && pe.Version != version) {
		t.Fatalf("%s: precondition error says exists=%v version=%q, want exists=%v version=%q", what, pe.Exists, pe.Version, exists, version)
	}
	return pe
}

func conditionalCases(s *suiteRun, open OpenDatabase) {
	ctx := context.Background()
	run := func(name string, fn func(t *testing.T, db providers.Versioned)) {
		runWith(s, open, name, fn)
	}

	run("ConditionalVersions", func(t *testing.T, db providers.Versioned) {
		seen := map[string]bool{}
		v1 := mustPut(t, db, "c", "k", "one", providers.Write{})
		seen[v1] = true
		if e := mustEntry(t, db, "c", "k"); e.Version != v1 || string(e.Value) != "one" || !e.ExpiresAt.IsZero() {
			t.Fatalf("GetEntry after Put = %q version %q expires %v; want one, %q, no expiry", e.Value, e.Version, e.ExpiresAt, v1)
		}
		mustSet(t, db, "c", "k", "two") // a plain Set makes a version too
		e := mustEntry(t, db, "c", "k")
		if seen[e.Version] || !providers.ValidVersion(e.Version) {
			t.Fatalf("version after Set = %q, want a new valid one", e.Version)
		}
		seen[e.Version] = true
		// Never reused for the key, across deletes and re-creation.
		for i := range 20 {
			if i%2 == 0 {
				if _, err := db.Delete(ctx, "c", "k"); err != nil {
					t.Fatal(err)
				}
			}
			v := mustPut(t, db, "c", "k", "again", providers.Write{})
			if seen[v] {
				t.Fatalf("version %q came back for the key after %d writes", v, len(seen))
			}
			seen[v] = true
		}
		// Query items carry the version GetEntry gives.
		last := mustEntry(t, db, "c", "k").Version
		page, err := db.Query(ctx, "c", providers.Query{})
		if err != nil || len(page.Items) != 1 || page.Items[0].Version != last {
			t.Fatalf("Query = %+v, %v; want the key with version %q", page.Items, err, last)
		}
		if _, err := db.GetEntry(ctx, "c", "missing"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("GetEntry of a missing key: %v, want ErrNotFound", err)
		}
	})

	run("ConditionalIfMatch", func(t *testing.T, db providers.Versioned) {
		v1 := mustPut(t, db, "c", "k", "one", providers.Write{})
		v2 := mustPut(t, db, "c", "k", "two", providers.Write{Condition: providers.Condition{Match: []string{v1}}})
		_, err := db.Put(ctx, "c", "k", []byte("lost"), providers.Write{Condition: providers.Condition{Match: []string{v1}}})
		wantPrecondition(t, "Put with a stale version", err, true, v2)
		mustGet(t, db, "c", "k", "two")
		// Any of several versions; versions it never made match nothing.
		v3 := mustPut(t, db, "c", "k", "three", providers.Write{Condition: providers.Condition{Match: []string{"nope", v1, v2}}})
		for _, bogus := range [][]string{{""}, {"not-a-version"}, {"\"" + v3 + "\""}} {
			_, err = db.Put(ctx, "c", "k", []byte("lost"), providers.Write{Condition: providers.Condition{Match: bogus}})
			wantPrecondition(t, fmt.Sprintf("Put matching %q", bogus), err, true, v3)
		}
		mustGet(t, db, "c", "k", "three")
		// If-Match on a missing key fails and creates nothing.
		_, err = db.Put(ctx, "c", "absent", []byte("x"), providers.Write{Condition: providers.Condition{Match: []string{v3}}})
		wantPrecondition(t, "Put If-Match on a missing key", err, false, "")
		_, err = db.Put(ctx, "c", "absent", []byte("x"), providers.Write{Condition: providers.Condition{MustExist: true}})
		wantPrecondition(t, "Put If-Match: * on a missing key", err, false, "")
		if _, err := db.Get(ctx, "c", "absent"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("a failed conditional Put created the key: %v", err)
		}
		mustPut(t, db, "c", "k", "four", providers.Write{Condition: providers.Condition{MustExist: true}})
		mustGet(t, db, "c", "k", "four")
	})

	run("ConditionalCreateOnly", func(t *testing.T, db providers.Versioned) {
		create := providers.Write{Condition: providers.Condition{MustNotExist: true}}
		v := mustPut(t, db, "c", "k", "first", create)
		_, err := db.Put(ctx, "c", "k", []byte("second"), create)
		wantPrecondition(t, "create-only Put of an existing key", err, true, v)
		mustGet(t, db, "c", "k", "first")
		if _, err := db.Delete(ctx, "c", "k"); err != nil {
			t.Fatal(err)
		}
		mustPut(t, db, "c", "k", "after delete", create)
		mustGet(t, db, "c", "k", "after delete")
	})

	run("ConditionalRemove", func(t *testing.T, db providers.Versioned) {
		v1 := mustPut(t, db, "c", "k", "one", providers.Write{})
		v2 := mustPut(t, db, "c", "k", "two", providers.Write{})
		_, err := db.Remove(ctx, "c", "k", providers.Condition{Match: []string{v1}})
		wantPrecondition(t, "Remove with a stale version", err, true, v2)
		mustGet(t, db, "c", "k", "two")
		_, err = db.Remove(ctx, "c", "k", providers.Condition{MustNotExist: true})
		wantPrecondition(t, "Remove If-None-Match: * of an existing key", err, true, v2)
		existed, err := db.Remove(ctx, "c", "k", providers.Condition{Match: []string{v2}})
		if err != nil || !existed {
			t.Fatalf("Remove with the current version = %v, %v; want true, nil", existed, err)
		}
		if _, err := db.Get(ctx, "c", "k"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get after a conditional Remove: %v, want ErrNotFound", err)
		}
		_, err = db.Remove(ctx, "c", "k", providers.Condition{Match: []string{v2}})
		wantPrecondition(t, "Remove If-Match of a missing key", err, false, "")
		_, err = db.Remove(ctx, "c", "k", providers.Condition{MustExist: true})
		wantPrecondition(t, "Remove If-Match: * of a missing key", err, false, "")
		existed, err = db.Remove(ctx, "c", "k", providers.Condition{})
		if err != nil || existed {
			t.Fatalf("unconditional Remove of a missing key = %v, %v; want false, nil", existed, err)
		}
	})

	run("ConditionalCompareAndSwap", func(t *testing.T, db providers.Versioned) {
		casStress(t, db, db)
	})

	run("ConditionalReadsAgree", func(t *testing.T, db providers.Versioned) {
		readsAgree(t, db)
	})
}

// readsAgree checks that every value GetEntry and Query give comes with
// the version of the write that stored it, while writers keep rewriting
// the keys: a read that fetched a value and then its version apart from it
// could pair a value with another write's version, and an If-Match on it
// would then overwrite a value its client never saw.
func readsAgree(t *testing.T, db providers.Versioned) {
	ctx := context.Background()
	const writers, readers, each, keys = 4, 2, 50, 4
	// A version is unique for its key only (a counter per key is fine).
	type entry struct{ key, version string }
	var mu sync.Mutex
	wrote := map[entry]string{} // the value each write stored
	type read struct {
		entry
		value string
	}
	var reads []read
	err := Concurrently(writers+readers, each, func(w, i int) error {
		key := fmt.Sprint("k", (w+i)%keys)
		var got []read
		switch w {
		case writers: // a reader of entries
			e, err := db.GetEntry(ctx, "agree", key)
			if errors.Is(err, providers.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			got = append(got, read{entry{key, e.Version}, string(e.Value)})
		case writers + 1: // a reader of lists
			page, err := db.Query(ctx, "agree", providers.Query{})
			if err != nil {
				return err
			}
			for _, it := range page.Items {
				got = append(got, read{entry{it.Key, it.Version}, string(it.Value)})
			}
		default:
			value := fmt.Sprintf("w%d-%d", w, i)
			v, err := db.Put(ctx, "agree", key, []byte(value), providers.Write{})
			if err != nil {
				return err
			}
			mu.Lock()
			wrote[entry{key, v}] = value
			mu.Unlock()
			return nil
		}
		mu.Lock()
		reads = append(reads, got...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reads {
		if want, ok := wrote[r.entry]; !ok || want != r.value {
			t.Fatalf("a read gave %s=%q with version %q, which the write of %q made: a value paired with another write's version", r.key, r.value, r.version, want)
		}
	}
	t.Logf("%d reads agreed with the writes that made them", len(reads))
}

// casStress runs 8 goroutines that each increment a counter 25 times by
// read, +1 and a Put conditional on the version read, retrying when the
// condition fails; half go through a and half through b (two handles on one
// store, where the harness has them). The final value must equal the
// increments acknowledged: no update lost.
func casStress(t *testing.T, a, b providers.Versioned) {
	ctx := context.Background()
	const workers, each = 8, 25
	mustPut(t, a, "cas", "counter", "0", providers.Write{})
	var acked, retries atomic.Int64
	err := Concurrently(workers, each, func(w, _ int) error {
		db := a
		if w%2 == 1 {
			db = b
		}
		for attempt := 0; ; attempt++ {
			if attempt > 10_000 {
				return errors.New("an increment did not get through in 10,000 attempts")
			}
			e, err := db.GetEntry(ctx, "cas", "counter")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(e.Value))
			if err != nil {
				return fmt.Errorf("counter holds %q", e.Value)
			}
			_, err = db.Put(ctx, "cas", "counter", []byte(strconv.Itoa(n+1)), providers.Write{Condition: providers.Condition{Match: []string{e.Version}}})
			if errors.Is(err, providers.ErrPrecondition) {
				retries.Add(1)
				continue
			}
			if err != nil {
				return err
			}
			acked.Add(1)
			return nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	final, err := a.Get(ctx, "cas", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(final); got != strconv.FormatInt(acked.Load(), 10) || acked.Load() != workers*each {
		t.Fatalf("final counter %s after %d acknowledged increments (want %d): updates were lost", got, acked.Load(), workers*each)
	}
	t.Logf("%d increments, %d retries on a failed precondition", acked.Load(), retries.Load())
}

// expiryTTL is the time to live the expiry cases give: long enough for the
// checks made before it ends, on a slow machine.
const expiryTTL = 1500 * time.Millisecond

// waitGone polls until key is gone and fails when it outlives its expiry
// by more than a few seconds.
func waitGone(t *testing.T, db providers.Versioned, coll, key string, expiresAt time.Time) {
	t.Helper()
	deadline := expiresAt.Add(5 * time.Second)
	for {
		_, err := db.GetEntry(context.Background(), coll, key)
		if errors.Is(err, providers.ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("GetEntry while waiting for expiry: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s is still there 5s after its expiry time %s", coll, key, expiresAt.Format(time.RFC3339Nano))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func expiryCases(s *suiteRun, open OpenDatabase) {
	ctx := context.Background()
	run := func(name string, fn func(t *testing.T, db providers.Expiring)) {
		runWith(s, open, name, fn)
	}

	run("ExpiryGetListConditions", func(t *testing.T, db providers.Expiring) {
		before := time.Now()
		v := mustPut(t, db, "x", "short", "soon gone", providers.Write{TTL: expiryTTL})
		mustPut(t, db, "x", "kept", "stays", providers.Write{})
		e := mustEntry(t, db, "x", "short")
		if e.Version != v || e.ExpiresAt.IsZero() {
			t.Fatalf("GetEntry of an entry with a TTL: version %q expires %v; want %q and an expiry time", e.Version, e.ExpiresAt, v)
		}
		// The backend's clock decides; allow for a little skew.
		if lo, hi := before.Add(expiryTTL-time.Second), time.Now().Add(expiryTTL+time.Second); e.ExpiresAt.Before(lo) || e.ExpiresAt.After(hi) {
			t.Fatalf("ExpiresAt %s is not about %s after the Put", e.ExpiresAt.Format(time.RFC3339Nano), expiryTTL)
		}
		if got := walk(t, db, "x", "", 0); !equalKeys(got, []string{"short", "kept"}) {
			t.Fatalf("before expiry the collection holds %q", got)
		}
		waitGone(t, db, "x", "short", e.ExpiresAt)
		if _, err := db.Get(ctx, "x", "short"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("Get of an expired entry: %v, want ErrNotFound", err)
		}
		if got := walk(t, db, "x", "", 0); !equalKeys(got, []string{"kept"}) {
			t.Fatalf("after expiry the collection holds %q, want only kept", got)
		}
		if got := walk(t, db, "x", "gone", 0); len(got) != 0 {
			t.Fatalf("a filtered walk finds expired entries: %q", got)
		}
		_, err := db.Put(ctx, "x", "short", []byte("late"), providers.Write{Condition: providers.Condition{Match: []string{v}}})
		wantPrecondition(t, "If-Match on an expired entry", err, false, "")
		_, err = db.Put(ctx, "x", "short", []byte("late"), providers.Write{Condition: providers.Condition{MustExist: true}})
		wantPrecondition(t, "If-Match: * on an expired entry", err, false, "")
		existed, err := db.Remove(ctx, "x", "short", providers.Condition{})
		if err != nil || existed {
			t.Fatalf("Remove of an expired entry = %v, %v; want false, nil", existed, err)
		}
		mustPut(t, db, "x", "short2", "soon gone", providers.Write{TTL: expiryTTL})
		waitGone(t, db, "x", "short2", time.Now().Add(expiryTTL))
		nv := mustPut(t, db, "x", "short2", "created", providers.Write{Condition: providers.Condition{MustNotExist: true}})
		if nv == v {
			t.Fatal("a re-created entry got its expired predecessor's version")
		}
		if e := mustEntry(t, db, "x", "short2"); !e.ExpiresAt.IsZero() || string(e.Value) != "created" {
			t.Fatalf("entry created over an expired one: %q expires %v; want created, no expiry", e.Value, e.ExpiresAt)
		}
	})

	run("ExpiryClearedByPut", func(t *testing.T, db providers.Expiring) {
		mustPut(t, db, "x", "k", "ttl", providers.Write{TTL: expiryTTL})
		mustPut(t, db, "x", "k", "for good", providers.Write{})
		if e := mustEntry(t, db, "x", "k"); !e.ExpiresAt.IsZero() {
			t.Fatalf("a Put without TTL left the expiry %v", e.ExpiresAt)
		}
		mustPut(t, db, "x", "j", "ttl", providers.Write{TTL: expiryTTL})
		mustPut(t, db, "x", "j", "longer", providers.Write{TTL: time.Hour})
		time.Sleep(expiryTTL + 300*time.Millisecond)
		if _, err := db.Sweep(ctx, 100); err != nil {
			t.Fatal(err)
		}
		mustGet(t, db, "x", "k", "for good")
		mustGet(t, db, "x", "j", "longer")
	})

	run("ExpirySweep", func(t *testing.T, db providers.Expiring) {
		for i := range 5 {
			mustPut(t, db, "sw", fmt.Sprintf("e%d", i), "expiring", providers.Write{TTL: 200 * time.Millisecond})
		}
		mustPut(t, db, "sw", "kept", "stays", providers.Write{TTL: time.Hour})
		mustPut(t, db, "sw2", "kept", "stays", providers.Write{})
		time.Sleep(700 * time.Millisecond)
		total := 0
		for pass := 0; total < 5; pass++ {
			if pass > 50 {
				t.Fatalf("50 sweeps removed %d of 5 expired entries", total)
			}
			n, err := db.Sweep(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			if n < 0 || n > 2 {
				t.Fatalf("Sweep(limit 2) = %d", n)
			}
			total += n
		}
		if n, err := db.Sweep(ctx, 100); err != nil || n != 0 {
			t.Fatalf("a sweep after every expired entry went = %d, %v; want 0, nil", n, err)
		}
		mustGet(t, db, "sw", "kept", "stays")
		mustGet(t, db, "sw2", "kept", "stays")
	})

	run("ExpirySweepNames", func(t *testing.T, db providers.Expiring) {
		r, ok := db.(providers.ExpiryReporter)
		if !ok {
			t.Skip("the provider does not implement providers.ExpiryReporter (optional: without it, watchers get a resync for a sweep that removed entries)")
		}
		want := map[string]bool{}
		for i := range 3 {
			k := fmt.Sprintf("n%d", i)
			mustPut(t, db, "names", k, "expiring", providers.Write{TTL: 200 * time.Millisecond})
			want["names/"+k] = true
		}
		mustPut(t, db, "names", "kept", "stays", providers.Write{TTL: time.Hour})
		time.Sleep(700 * time.Millisecond)
		named := map[string]int{}
		total := 0
		for pass := 0; total < 3; pass++ {
			if pass > 50 {
				t.Fatalf("50 sweeps removed %d of 3 expired entries", total)
			}
			n, err := r.SweepKeys(ctx, 2, func(coll, key string) { named[coll+"/"+key]++ })
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		for k, c := range named {
			if !want[k] || c != 1 {
				t.Errorf("SweepKeys named %s %d times; want each expired entry once, and nothing else", k, c)
			}
		}
		if len(named) != len(want) || total != len(want) {
			t.Fatalf("SweepKeys removed %d and named %v; want %d named", total, named, len(want))
		}
		mustGet(t, db, "names", "kept", "stays")
	})
}

// expiryDurable checks that an expiry survives Close and a reopen.
func expiryDurable(t *testing.T, s *suiteRun, open OpenDatabase) {
	db, ok := open(t).(providers.Expiring)
	if !ok {
		t.Fatal("the storage opener's database is not providers.Expiring")
	}
	s.tested(db)
	mustPut(t, db, "d", "long", "an hour", providers.Write{TTL: time.Hour})
	mustPut(t, db, "d", "short", "a moment", providers.Write{TTL: expiryTTL})
	long := mustEntry(t, db, "d", "long")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again, ok := open(t).(providers.Expiring)
	if !ok {
		t.Fatal("the storage opener's database is not providers.Expiring")
	}
	s.tested(again)
	t.Cleanup(func() { _ = again.Close() })
	e := mustEntry(t, again, "d", "long")
	if e.Version != long.Version || e.ExpiresAt.Sub(long.ExpiresAt).Abs() > time.Millisecond {
		t.Fatalf("after reopen: version %q expires %v; want %q and %v", e.Version, e.ExpiresAt, long.Version, long.ExpiresAt)
	}
	waitGone(t, again, "d", "short", time.Now().Add(expiryTTL))
}

func batchCases(s *suiteRun, open OpenDatabase, expiring bool) {
	ctx := context.Background()
	run := func(name string, fn func(t *testing.T, db providers.Batcher)) {
		runWith(s, open, name, fn)
	}

	run("BatchAllOrNothing", func(t *testing.T, db providers.Batcher) {
		k := batchKeys(db, "b", 6)
		a, b, gone, never, c, d := k[0], k[1], k[2], k[3], k[4], k[5]
		vb := mustPut(t, db, "b", b, "old b", providers.Write{})
		mustPut(t, db, "b", gone, "to delete", providers.Write{})
		res, err := db.Apply(ctx, []providers.BatchOp{
			{Collection: "b", Key: a, Value: []byte("new a"), Condition: providers.Condition{MustNotExist: true}},
			{Collection: "b", Key: b, Value: []byte("new b"), Condition: providers.Condition{Match: []string{vb}}},
			{Collection: "b", Key: gone, Delete: true},
			{Collection: "b", Key: never, Delete: true},
		})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if len(res) != 4 || !providers.ValidVersion(res[0].Version) || !providers.ValidVersion(res[1].Version) || !res[2].Existed || res[3].Existed {
			t.Fatalf("Apply results = %+v; want versions for the puts, existed true then false for the deletes", res)
		}
		if e := mustEntry(t, db, "b", b); e.Version != res[1].Version || string(e.Value) != "new b" {
			t.Fatalf("b after the batch: %q version %q; want new b, %q", e.Value, e.Version, res[1].Version)
		}
		mustGet(t, db, "b", a, "new a")
		if _, err := db.Get(ctx, "b", gone); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("a deleted key is still there: %v", err)
		}

		// The third operation's condition fails: nothing is written.
		va := res[0].Version
		_, err = db.Apply(ctx, []providers.BatchOp{
			{Collection: "b", Key: a, Value: []byte("lost a"), Condition: providers.Condition{Match: []string{va}}},
			{Collection: "b", Key: b, Delete: true},
			{Collection: "b", Key: c, Value: []byte("lost c"), Condition: providers.Condition{Match: []string{vb}}},
			{Collection: "b", Key: d, Value: []byte("lost d")},
		})
		pe := wantPrecondition(t, "a batch with a failing condition", err, false, "")
		if pe.Op != 2 {
			t.Fatalf("the precondition error names operation %d, want 2", pe.Op)
		}
		mustGet(t, db, "b", a, "new a")
		mustGet(t, db, "b", b, "new b")
		for _, k := range []string{c, d} {
			if _, err := db.Get(ctx, "b", k); !errors.Is(err, providers.ErrNotFound) {
				t.Fatalf("a failed batch wrote %s: %v", k, err)
			}
		}
		if e := mustEntry(t, db, "b", a); e.Version != va {
			t.Fatalf("a failed batch changed a's version to %q", e.Version)
		}
	})

	run("BatchDuplicateKeys", func(t *testing.T, db providers.Batcher) {
		_, err := db.Apply(ctx, []providers.BatchOp{
			{Collection: "b", Key: "k", Value: []byte("1")},
			{Collection: "b", Key: "k", Value: []byte("2")},
		})
		if !errors.Is(err, providers.ErrInvalid) {
			t.Fatalf("a batch writing one key twice: %v, want ErrInvalid", err)
		}
		if _, err := db.Get(ctx, "b", "k"); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("a refused batch wrote: %v", err)
		}
	})

	run("BatchAcrossCollections", func(t *testing.T, db providers.Batcher) {
		ops := []providers.BatchOp{
			{Collection: "orders", Key: "o1", Value: []byte("order")},
			{Collection: "stock", Key: "s1", Value: []byte("reserved")},
		}
		_, err := db.Apply(ctx, ops)
		if errors.Is(err, providers.ErrNotAtomic) { // allowed: nothing may be written
			for _, op := range ops {
				if _, gerr := db.Get(ctx, op.Collection, op.Key); !errors.Is(gerr, providers.ErrNotFound) {
					t.Fatalf("a batch refused as not atomic wrote %s/%s: %v", op.Collection, op.Key, gerr)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("Apply across collections: %v", err)
		}
		mustGet(t, db, "orders", "o1", "order")
		mustGet(t, db, "stock", "s1", "reserved")
	})

	run("BatchSeenWhole", func(t *testing.T, db providers.Batcher) {
		keys := batchKeys(db, "whole", 5)
		apply := func(n int) error {
			ops := make([]providers.BatchOp, len(keys))
			for i, k := range keys {
				ops[i] = providers.BatchOp{Collection: "whole", Key: k, Value: []byte(strconv.Itoa(n))}
			}
			_, err := db.Apply(ctx, ops)
			return err
		}
		if err := apply(0); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		errs := make(chan error, 4)
		// Readers read the keys one by one, in both orders. Batches only
		// raise the number, so each reader must see it never fall; a
		// batch seen in part makes it fall in one of the orders.
		stop := harness.Repeat(4, 0, func(r int) bool {
			last := -1
			for i := range keys {
				k := keys[i]
				if r%2 == 1 {
					k = keys[len(keys)-1-i]
				}
				v, err := db.Get(ctx, "whole", k)
				if err != nil {
					errs <- err
					return false
				}
				n, _ := strconv.Atoi(string(v))
				if n < last {
					errs <- fmt.Errorf("read %s = %d after another key of the batch read %d: a batch was seen in part", k, n, last)
					return false
				}
				last = n
			}
			return true
		})
		for n := 1; n <= 200; n++ {
			if err := apply(n); err != nil {
				stop()
				t.Fatalf("Apply %d: %v", n, err)
			}
		}
		stop()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	if expiring {
		run("BatchTTL", func(t *testing.T, db providers.Batcher) {
			k := batchKeys(db, "bt", 2)
			res, err := db.Apply(ctx, []providers.BatchOp{
				{Collection: "bt", Key: k[0], Value: []byte("brief"), TTL: expiryTTL},
				{Collection: "bt", Key: k[1], Value: []byte("stays")},
			})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			e := mustEntry(t, db, "bt", k[0])
			if e.ExpiresAt.IsZero() || e.Version != res[0].Version {
				t.Fatalf("a batch put with a TTL: version %q expires %v", e.Version, e.ExpiresAt)
			}
			waitGone(t, db, "bt", k[0], e.ExpiresAt)
			mustGet(t, db, "bt", k[1], "stays")
		})
	}
}

// KeyGrouper is implemented by providers that apply a batch atomically only
// when its keys are grouped together (a Redis Cluster: in one hash slot).
// BatchKeys returns n distinct keys of one collection that can go in one
// batch; the batch cases use them.
type KeyGrouper interface {
	BatchKeys(collection string, n int) []string
}

func batchKeys(db providers.Database, collection string, n int) []string {
	if g, ok := db.(KeyGrouper); ok {
		return g.BatchKeys(collection, n)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	return keys
}
