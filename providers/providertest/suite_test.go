package providertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/conformance"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
	"github.com/navius-dev/navius/providers/pprof"
)

func openMemoryDB(t *testing.T) providers.Database {
	db, err := memory.OpenDatabase(context.Background(), providers.DatabaseConfig{URL: "memory://"})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openMemoryCache(t *testing.T, cfg providers.CacheConfig) providers.Cache {
	cfg.URL = "memory://"
	c, err := memory.OpenCache(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listSink is a log sink whose destination is a slice: Write queues a copy,
// Flush delivers the queue.
type listSink struct {
	mu        sync.Mutex
	queue     []providers.LogEntry
	delivered []providers.LogEntry
	closed    bool
	// dropEvery > 0 loses every n-th entry without counting it (broken).
	dropEvery, n int
}

func (s *listSink) Write(e *providers.LogEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.closed || (s.dropEvery > 0 && s.n%s.dropEvery == 0) {
		return
	}
	c := *e
	c.Fields = make(map[string]any, len(e.Fields))
	for k, v := range e.Fields {
		c.Fields[k] = v
	}
	s.queue = append(s.queue, c)
}

func (s *listSink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delivered = append(s.delivered, s.queue...)
	s.queue = nil
	return nil
}

func (s *listSink) Close(ctx context.Context) error {
	err := s.Flush(ctx)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return err
}

func (s *listSink) received() []providers.LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.delivered)
}

func openListSink(dropEvery int) OpenLogSink {
	return func(t *testing.T) (providers.LogSink, func() []providers.LogEntry) {
		s := &listSink{dropEvery: dropEvery}
		return s, s.received
	}
}

func openPprof(t *testing.T) providers.Observer {
	o, err := pprof.Open(context.Background(), providers.ObservabilityConfig{Settings: providers.Settings{"pprof.listen": "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// watch records the markers of the suites run while it is set.
func watch(t *testing.T) *[]conformance.Marker {
	var markers []conformance.Marker
	var ran [][]string
	suiteDone = func(m conformance.Marker, r, passed []string) {
		markers = append(markers, m)
		ran = append(ran, slices.Clone(passed))
		for _, req := range conformance.Required[m.Suite] {
			if !slices.Contains(passed, req) {
				t.Errorf("suite %s: required case %s did not pass (passed: %v)", m.Suite, req, passed)
			}
		}
	}
	t.Cleanup(func() { suiteDone = nil })
	return &markers
}

// Every suite runs and passes its required cases against a correct
// provider, and its marker carries the HMAC of the passed cases.
func TestSuitesRunTheirRequiredCases(t *testing.T) {
	t.Setenv(conformance.NonceEnv, "nonce-123")
	markers := watch(t)
	RunDatabaseTests(t, DatabaseHarness{Open: openMemoryDB})
	TestCache(t, openMemoryCache)
	TestLogSink(t, openListSink(0))
	RunObserverTests(t, ObserverHarness{Open: openPprof})

	var suites []string
	for _, m := range *markers {
		suites = append(suites, m.Suite)
		if m.Passed == 0 || m.Passed > m.Cases {
			t.Errorf("marker %s: %d of %d passed", m, m.Passed, m.Cases)
		}
		if !strings.HasPrefix(m.Impl, "github.com/navius-dev/navius/providers/") && !strings.Contains(m.Impl, "providertest.*listSink") {
			t.Errorf("marker %s names implementation %q", m.Suite, m.Impl)
		}
		if m.Digest == "-" || len(m.Digest) != 32 {
			t.Errorf("marker %s has digest %q with a nonce set", m.Suite, m.Digest)
		}
		parsed, ok := conformance.ParseMarker("    suite.go:81: " + m.String())
		if !ok || parsed != m {
			t.Errorf("marker %q does not parse back: %+v %v", m, parsed, ok)
		}
	}
	if !slices.Equal(suites, conformance.Suites) {
		t.Errorf("suites run = %v, want %v", suites, conformance.Suites)
	}
}

// A persistent provider's harness adds the Durable case, and a durable
// one opened by Config the CrashDurable case.
func TestStorageAddsDurable(t *testing.T) {
	var ran, passed []string
	suiteDone = func(_ conformance.Marker, r, p []string) { ran, passed = slices.Clone(r), slices.Clone(p) }
	t.Cleanup(func() { suiteDone = nil })
	RunDatabaseTests(t, DatabaseHarness{Config: kitBoltConfig, Durable: true})
	for _, c := range []string{"Durable", "CrashDurable"} {
		if !slices.Contains(ran, c) || !slices.Contains(passed, c) {
			t.Fatalf("cases run with a durable Config: %v, passed %v; want %s among both", ran, passed, c)
		}
	}
}

func kitBoltConfig(t *testing.T, dir string) providers.DatabaseConfig {
	return providers.DatabaseConfig{URL: "kitbolt://" + filepath.Join(dir, "navius.db")}
}

func TestTypeName(t *testing.T) {
	for v, want := range map[any]string{
		&listSink{}:   "github.com/navius-dev/navius/providers/providertest.*listSink",
		noTTL{}:       "github.com/navius-dev/navius/providers/providertest.noTTL",
		struct{}{}:    "struct{}",
		new(int):      "*int",
		MetricValue{}: "github.com/navius-dev/navius/providers/providertest.MetricValue",
	} {
		if got := typeName(v); got != want {
			t.Errorf("typeName(%T) = %q, want %q", v, got, want)
		}
	}
	if got := typeName(nil); got != "nil" {
		t.Errorf("typeName(nil) = %q", got)
	}
}

// The broken providers below are run in a child process (a failing suite
// fails the test that runs it); the parent checks that the suite named the
// right case.
func TestSuitesCatchBrokenProviders(t *testing.T) {
	for broken, wantFail := range map[string]string{
		"delete":         "navius.database.v2/Delete",
		"copy":           "navius.database.v2/ValuesAreCopied",
		"sinkdrop":       "navius.logging.v2/FlushDelivers",
		"ttl":            "navius.cache.v2/TTL",
		"forget":         "navius.database.v2/Durable",
		"ignorectx":      "navius.database.v2/HonoursContext",
		"cacheignorectx": "navius.cache.v2/HonoursContext",
		// Only the named case runs for these: the others would pass.
		"closerace":      "navius.database.v2/CloseWhileBusy",
		"cachecloserace": "navius.cache.v2/CloseWhileBusy",
		"nosync":         "navius.database.v2/CrashDurable",
		"buffered":       "navius.database.v2/CrashDurable",
		// These run with HonoursContext, which they pass: they check
		// their context on entry, and then wait on their lock whatever
		// it says.
		"blocked":      "navius.database.v2/HonoursContextWhileBlocked",
		"cacheblocked": "navius.cache.v2/HonoursContextWhileBlocked",
	} {
		t.Run(broken, func(t *testing.T) {
			t.Parallel()
			if broken == "nosync" && !canMount() {
				t.Skip("a provider that does not sync is caught by a simulated power loss, which needs root to loop-mount a file system")
			}
			run := "^TestBrokenProvider$"
			racesClose := broken == "closerace" || broken == "cachecloserace"
			blocked := broken == "blocked" || broken == "cacheblocked"
			suite, _, _ := strings.Cut(wantFail, "/")
			switch {
			case racesClose || broken == "nosync" || broken == "buffered":
				run = runPattern("TestBrokenProvider/" + wantFail)
			case blocked:
				run = runPattern("TestBrokenProvider/"+suite) + "/^(HonoursContext|HonoursContextWhileBlocked)$"
			}
			cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "PROVIDERTEST_BROKEN="+broken)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a provider broken in %s:\n%s", broken, out)
			}
			if racesClose {
				// A call racing Close panics in its goroutine: the test
				// binary dies inside the case.
				if !strings.Contains(string(out), "=== RUN   TestBrokenProvider/"+wantFail+"\n") || !strings.Contains(string(out), "panic: ") {
					t.Fatalf("the case did not catch the race with Close:\n%s", out)
				}
				return
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenProvider/"+wantFail+" ") {
				t.Fatalf("the suite did not fail %s:\n%s", wantFail, out)
			}
			if !strings.Contains(string(out), conformance.MarkerPrefix+" ") {
				t.Fatalf("no marker after a failing suite:\n%s", out)
			}
			if blocked {
				// A done context on entry is refused: only a call that
				// began, then waited, is caught, and it is named.
				if !strings.Contains(string(out), "--- PASS: TestBrokenProvider/"+suite+"/HonoursContext ") {
					t.Fatalf("HonoursContext did not pass a provider that checks its context on entry:\n%s", out)
				}
				if !strings.Contains(string(out), ": Set with a context ") ||
					!strings.Contains(string(out), fmt.Sprintf("had not returned %v after its context ended", blockedBound)) {
					t.Fatalf("the case does not say which call waited:\n%s", out)
				}
			}
		})
	}
}

func canMount() bool {
	_, err := exec.LookPath("mkfs.ext4")
	return runtime.GOOS == "linux" && os.Geteuid() == 0 && err == nil
}

// TestBrokenProvider runs a suite against a broken provider when the parent
// test asks for it; otherwise it does nothing.
func TestBrokenProvider(t *testing.T) {
	switch os.Getenv("PROVIDERTEST_BROKEN") {
	case "":
		t.Skip("run by TestSuitesCatchBrokenProviders")
	case "delete":
		TestDatabase(t, func(t *testing.T) providers.Database { return wrongDelete{openMemoryDB(t)} })
	case "copy":
		TestDatabase(t, func(t *testing.T) providers.Database { return &keepsCaller{Database: openMemoryDB(t)} })
	case "forget":
		// Every open, the reopen included, starts from empty storage.
		RunDatabaseTests(t, DatabaseHarness{Storage: func(t *testing.T) OpenDatabase { return openMemoryDB }})
	case "ignorectx":
		TestDatabase(t, func(t *testing.T) providers.Database { return ignoresContext{openMemoryDB(t)} })
	case "closerace":
		TestDatabase(t, func(t *testing.T) providers.Database { return &useAfterClose{data: map[string][]byte{}} })
	case "nosync":
		RunDatabaseTests(t, DatabaseHarness{Durable: true, Config: func(t *testing.T, dir string) providers.DatabaseConfig {
			return providers.DatabaseConfig{URL: "kitlog://" + filepath.Join(dir, "log"), Settings: providers.Settings{"kitlog.sync": "false"}}
		}})
	case "buffered":
		RunDatabaseTests(t, DatabaseHarness{Durable: true, Config: func(t *testing.T, dir string) providers.DatabaseConfig {
			return providers.DatabaseConfig{URL: "kitlog://" + filepath.Join(dir, "log"), Settings: providers.Settings{"kitlog.buffered": "true"}}
		}})
	case "sinkdrop":
		TestLogSink(t, openListSink(10))
	case "cacheignorectx":
		TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
			return cacheIgnoresContext{openMemoryCache(t, cfg)}
		})
	case "cachecloserace":
		TestCache(t, func(*testing.T, providers.CacheConfig) providers.Cache {
			return &cacheUseAfterClose{data: map[string][]byte{}}
		})
	case "blocked":
		TestDatabase(t, func(t *testing.T) providers.Database { return &waitsOnItsLock{Database: openMemoryDB(t)} })
	case "cacheblocked":
		TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
			return &cacheWaitsOnItsLock{Cache: openMemoryCache(t, cfg)}
		})
	case "ttl":
		TestCache(t, func(t *testing.T, cfg providers.CacheConfig) providers.Cache {
			return noTTL{openMemoryCache(t, cfg)}
		})
	}
}

// wrongDelete reports a present key as absent.
type wrongDelete struct{ providers.Database }

func (w wrongDelete) Delete(ctx context.Context, c, k string) (bool, error) {
	_, err := w.Database.Delete(ctx, c, k)
	return false, err
}

// keepsCaller stores the caller's buffer instead of a copy.
type keepsCaller struct {
	providers.Database
	mu   sync.Mutex
	bufs map[string][]byte
}

func (k *keepsCaller) Set(ctx context.Context, c, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.bufs == nil {
		k.bufs = map[string][]byte{}
	}
	k.bufs[c+"\x00"+key] = v
	return k.Database.Set(ctx, c, key, v)
}

func (k *keepsCaller) Get(ctx context.Context, c, key string) ([]byte, error) {
	k.mu.Lock()
	b, ok := k.bufs[c+"\x00"+key]
	k.mu.Unlock()
	if ok {
		return b, nil
	}
	return k.Database.Get(ctx, c, key)
}

// noTTL keeps every entry forever.
type noTTL struct{ providers.Cache }

func (n noTTL) Set(ctx context.Context, key string, v []byte, _ time.Duration) error {
	return n.Cache.Set(ctx, key, v, time.Hour*24)
}
