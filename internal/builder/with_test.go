package builder

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/manifest"
)

// realTree is the source tree these tests run in, with its features.json.
func realTree(t *testing.T) *tree {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Load(filepath.Join(dir, "features.json"))
	if err != nil {
		t.Fatal(err)
	}
	return &tree{dir: dir, manifest: m}
}

// TestFromConfig: the features a config uses follow from its URL schemes,
// provider names and sections (features.json's schemes and provides), and
// from the defaults of what it leaves unset; the rest needs nothing. The
// NAVIUS_* variables count as serve counts them, over the file; a section
// that only turns its feature off leaves it out.
func TestFromConfig(t *testing.T) {
	for _, c := range []struct {
		name, config string
		env          []string
		want         string
		why          []string
	}{
		{"redis and splunk", "database:\n  url: redis://h:6379/0\ncache.url: rediss://h:6380\nsplunk:\n  endpoint: https://s:8088\n  token: x\nlisten: :8080\n", nil,
			"redis,splunk", []string{"redis: database.url is redis:// (line 2); cache.url is rediss:// (line 3)", "splunk: splunk.endpoint is set (line 5); splunk.token is set (line 6)"}},
		{"nothing set", "log.level: debug\n", nil, "memory",
			[]string{"memory: database.url is not set, and defaults to memory://; cache.url is not set, and defaults to memory://"}},
		// Without memory, a build's cache defaults to none.
		{"postgres alone", "database.url: postgres://db/navius\n", nil, "postgres",
			[]string{"postgres: database.url is postgres:// (line 1)"}},
		// A binary with bolt defaults its database to bolt.
		{"bolt by its section", "bolt.batch: false\ncache.url: none\n", nil, "bolt", []string{"bolt: bolt.batch is set (line 1); database.url is not set, and defaults to bolt://"}},
		{"provider names", "database.provider: redis\ncache:\n  provider: memory\n  capacity: 1MiB\n", nil, "memory,redis",
			[]string{"redis: database.provider is redis (line 1)", "memory: cache.provider is memory (line 3)"}},
		{"exporters", "database.url: memory://\ncache.url: none\nprometheus.enabled: false\ndynatrace.endpoint: https://x.live.dynatrace.com\n", nil, "dynatrace,memory",
			[]string{"dynatrace: dynatrace.endpoint is set (line 4)", "prometheus: left out, prometheus.enabled is false (line 3)"}},
		{"turned off but set up", "cache.url: none\nprometheus:\n  enabled: off\n  path: /m\n", nil, "memory,prometheus",
			[]string{"prometheus: prometheus.enabled is set (line 3); prometheus.path is set (line 4)"}},
		// The environment, over the file, as serve reads it.
		{"database from the environment", "log.level: debug\n", []string{"NAVIUS_DATABASE_URL=redis://127.0.0.1:1"}, "redis",
			[]string{"redis: database.url is redis:// (from NAVIUS_DATABASE_URL)"}},
		{"environment over file", "database.url: bolt://./x.db\ncache.url: none\n", []string{"HOME=/root", "NAVIUS_DATABASE_URL=postgres://db/navius"}, "postgres",
			[]string{"postgres: database.url is postgres:// (from NAVIUS_DATABASE_URL)"}},
		{"turned on by the environment", "cache.url: none\nprometheus.enabled: false\n", []string{"NAVIUS_PROMETHEUS_ENABLED=true"}, "memory,prometheus",
			[]string{"prometheus: prometheus.enabled is set (line 2); prometheus.enabled is set (from NAVIUS_PROMETHEUS_ENABLED)"}},
		{"turned off by the environment", "cache.url: none\n", []string{"NAVIUS_PROMETHEUS_ENABLED=0"}, "memory",
			[]string{"prometheus: left out, prometheus.enabled is false (from NAVIUS_PROMETHEUS_ENABLED)"}},
		{"a feature's variable", "cache.url: none\n", []string{"NAVIUS_SPLUNK_TOKEN=t", "NAVIUS_NO_SUCH_THING=1", "NAVIUS_PPROF_LISTEN="}, "memory,splunk",
			[]string{"splunk: splunk.token is set (from NAVIUS_SPLUNK_TOKEN)", "ignored: NAVIUS_NO_SUCH_THING (no option of navius"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := realTree(t)
			path := filepath.Join(t.TempDir(), "navius.yaml")
			os.WriteFile(path, []byte(c.config), 0o644)
			var out bytes.Buffer
			ch, err := tr.fromConfig(&out, path, c.env)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tr.manifest.Resolve("none," + c.want)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ch.sel.Features, want.Features) {
				t.Errorf("selected %v, want %v\n%s", ch.sel.Features, want.Features, out.String())
			}
			for _, w := range c.why {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "127.0.0.1") {
				t.Errorf("output shows a URL beyond its scheme:\n%s", out.String())
			}
		})
	}
}

func TestFromConfigRefuses(t *testing.T) {
	nav := realTree(t).manifest
	offered := strings.Join(nav.Schemes(nav.Names(), "database"), ", ")
	for config, want := range map[string]string{
		"database:\n  url: mysql://db/x\n":   `line 2: database.url: no feature serves database URL scheme "mysql" (the features offer ` + offered + `)`,
		"cache.url: nope://x\n":              `line 1: cache.url: no feature serves cache URL scheme "nope"`,
		"database.url: no-scheme\n":          `line 1: database.url: URL "no-scheme" has no scheme`,
		"cache.provider: memcached\n":        `line 1: cache.provider: no feature provides cache "memcached"`,
		"splnk:\n  endpoint: https://s\n":    `line 2: key "splnk.endpoint" belongs to no feature of navius or of a --with module (did you mean "splunk.endpoint"?)`,
		"server.read_timout: 1s\n":           `key "server.read_timout" belongs to no feature of navius or of a --with module (did you mean "server.read_timeout"?)`,
		"listen: :1\nlisten: :2\n":           `key "listen" repeats the one on line 1`,
		"listen: :1\n  bad indentation: x\n": "--from-config",
	} {
		tr := realTree(t)
		path := filepath.Join(t.TempDir(), "navius.yaml")
		os.WriteFile(path, []byte(config), 0o644)
		_, err := tr.fromConfig(&bytes.Buffer{}, path, nil)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("config %q: error %v\nwant one line containing %q", config, err, want)
		}
	}
}

// Every problem is reported, one line each, the environment's too.
func TestFromConfigListsEveryProblem(t *testing.T) {
	tr := realTree(t)
	path := filepath.Join(t.TempDir(), "navius.yaml")
	os.WriteFile(path, []byte("foo: 1\nlisten: :1\nbar:\n  baz: 2\ncache.url: nope://x\nlisten: :2\n"), 0o644)
	_, err := tr.fromConfig(&bytes.Buffer{}, path, []string{"NAVIUS_DATABASE_URL=mysql://u:secret@db/x"})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		path + `: config: file ` + path + ` line 6: key "listen" repeats the one on line 2`,
		path + ` line 1: key "foo" belongs to no feature`,
		path + ` line 4: key "bar.baz" belongs to no feature`,
		path + `, environment NAVIUS_DATABASE_URL: database.url: no feature serves database URL scheme "mysql"`,
		path + ` line 5: cache.url: no feature serves cache URL scheme "nope"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], "--from-config ") || !strings.Contains(lines[i], w) {
			t.Errorf("problem %d is %q, want one containing %q", i+1, lines[i], w)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("a problem shows a password: %v", err)
	}
}

// A --with given on the command line replaces a profile's (or a --like
// binary's) for the same module; others add.
func TestOverrideWith(t *testing.T) {
	got := overrideWith([]string{"example.com/a=./a", "example.com/b@v1.0.0"}, []string{"example.com/b=/src/b", "example.com/c"})
	if want := []string{"example.com/a=./a", "example.com/b=/src/b", "example.com/c"}; !slices.Equal(got, want) {
		t.Fatalf("overrideWith = %v, want %v", got, want)
	}
	// Two of one module on the command line stay two: Check refuses them.
	if got := overrideWith(nil, []string{"example.com/a", "example.com/a"}); len(got) != 2 {
		t.Fatalf("overrideWith dropped a duplicate: %v", got)
	}
}

// A profile keeps a directory inside the tree relative to it, so that it
// works in any clone, and one outside absolute.
func TestProfileWith(t *testing.T) {
	tr := realTree(t)
	outside := t.TempDir()
	got, err := tr.profileWith([]string{"example.com/navius-fsdb=" + filepath.Join(tr.dir, "examples", "fsdb"), "example.com/x=" + outside, "example.com/y@v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"example.com/navius-fsdb=./examples/fsdb", "example.com/x=" + outside, "example.com/y@v1.2.3"}
	if !slices.Equal(got, want) {
		t.Fatalf("profileWith = %v, want %v", got, want)
	}
	back := tr.withArgs(Profile{With: got})
	if back[0] != "example.com/navius-fsdb="+filepath.Join(tr.dir, "examples", "fsdb") || back[1] != want[1] || back[2] != want[2] {
		t.Fatalf("withArgs = %v", back)
	}
}

func TestModuleGraph(t *testing.T) {
	graph, err := realTree(t).moduleGraph()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"github.com/sirupsen/logrus", "go.etcd.io/bbolt", "github.com/kr/text"} {
		if !graph[m] {
			t.Errorf("the tree's module graph lacks %s", m)
		}
	}
	if graph["example.com/navius-fsdb"] || graph["github.com/navius-dev/navius"] {
		t.Errorf("the graph holds a module go.mod does not require: %v", graph)
	}
}

// likeModules finds --with modules in a binary's dependencies: a module
// replaced by a directory is one; navius's own requirements are not.
func TestLikeModules(t *testing.T) {
	tr := realTree(t)
	example := filepath.Join(tr.dir, "examples", "fsdb")
	info := buildinfo.Info{
		Modules:  map[string]string{"example.com/navius-fsdb": "(devel)", "github.com/sirupsen/logrus": "v1.10.2", "github.com/navius-dev/navius": "(devel)"},
		Replaced: map[string]string{"example.com/navius-fsdb": example},
	}
	got, err := tr.likeModules(t.Context(), info, nil)
	if err != nil || !slices.Equal(got, []string{"example.com/navius-fsdb=" + example}) {
		t.Fatalf("likeModules = %v, %v", got, err)
	}
	info.Replaced["example.com/navius-fsdb"] = filepath.Join(t.TempDir(), "gone")
	if _, err := tr.likeModules(t.Context(), info, nil); err == nil || !strings.Contains(err.Error(), "which is not here: give the module's directory with --with example.com/navius-fsdb=DIR") {
		t.Fatalf("a directory that is gone: %v", err)
	}
	// A --with for the module takes its place.
	if got, err := tr.likeModules(t.Context(), info, []string{"example.com/navius-fsdb=" + example}); err != nil || len(got) != 0 {
		t.Fatalf("with the module given: %v, %v", got, err)
	}
}
