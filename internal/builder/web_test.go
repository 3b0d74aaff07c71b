package builder

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/cli"
	"github.com/navius-dev/navius/internal/manifest"
)

// testServer is a webServer over this tree without a catalog, whose builds
// run fake, for the parts that need no go build: resolving, limits, the
// queue, the cache and the event stream. The real builds are driven by
// browsertest/.
func testServer(t *testing.T, run func(context.Context, *job) (*cacheEntry, error)) *webServer {
	t.Helper()
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := &webServer{env: &cli.Env{Manifest: m}, t: &tree{dir: "../..", manifest: m}, nav: m, log: log, metrics: &webMetrics{}}
	if s.cache, err = openCache(t.TempDir(), 1<<20, s.metrics); err != nil {
		t.Fatal(err)
	}
	s.queue = newBuildQueue(1, 3, 2, run, s.metrics, log)
	t.Cleanup(s.queue.stop)
	return s
}

func TestResolveForThePage(t *testing.T) {
	s := testServer(t, nil)
	sel, err := s.resolve("none,bolt,redis")
	if err != nil {
		t.Fatal(err)
	}
	core, bolt, redis := *s.nav.Core.SizeImpact, *s.nav.Feature("bolt").SizeImpact, *s.nav.Feature("redis").SizeImpact
	if sel.Size != core+bolt+redis {
		t.Errorf("estimate %d, want core+bolt+redis = %d", sel.Size, core+bolt+redis)
	}
	for _, want := range []string{`data-feature="core"`, `data-feature="bolt"`, `data-feature="redis"`} {
		if !strings.Contains(sel.Chart, want) {
			t.Errorf("the chart lacks %s: %s", want, sel.Chart)
		}
	}
	if strings.Contains(sel.Chart, `data-feature="memory"`) {
		t.Error("the chart draws memory, which is not selected")
	}
	// Without memory the default cache is missing: the page says so.
	if len(sel.Notes) != 1 || !strings.Contains(sel.Notes[0], "without memory") || !strings.Contains(sel.Notes[0], "cache.url memory://") {
		t.Errorf("notes %q", sel.Notes)
	}
	mk, nav := s.commands(sel, "linux/arm64", "binary")
	if mk != "make build FEATURES=bolt,redis" || nav != "navius build --features bolt,redis --target linux/arm64" {
		t.Errorf("commands %q, %q", mk, nav)
	}
	if mk, nav = s.commands(sel, "linux/arm64", "image"); mk != "make image FEATURES=bolt,redis PLATFORM=linux/arm64" || nav != "navius package --image --features bolt,redis --platform linux/arm64" {
		t.Errorf("image commands %q, %q", mk, nav)
	}

	// A deliberately tool-only selection is a warning; one by accident an
	// error, as for navius build.
	if sel, err := s.resolve("none,builder"); err != nil || !strings.Contains(sel.Warning, "tool-only") {
		t.Errorf("none,builder: %v %q", err, sel.Warning)
	}
	for spec, want := range map[string]string{
		"builder":                     "no selected feature provides a database",
		"memory,memroy":               `did you mean "memory"`,
		"memory,example.com/evil":     "module example.com/evil is not in this builder's catalog",
		strings.Repeat("memory,", 70): "at most 64",
	} {
		if _, err := s.resolve(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: %v; want %q", spec, err, want)
		}
	}
}

// blockingRun is a fake build that ends when told, or when cancelled.
func blockingRun(release chan struct{}) func(context.Context, *job) (*cacheEntry, error) {
	return func(ctx context.Context, j *job) (*cacheEntry, error) {
		select {
		case <-release:
			return &cacheEntry{Key: j.req.key, builtFile: builtFile{SHA256: "x"}}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func request(s *webServer, spec, client string) buildRequest {
	sel, _ := s.resolve(spec)
	return buildRequest{sel: sel, platform: "linux/amd64", artifact: "binary", key: spec, client: client}
}

func TestQueueLimits(t *testing.T) {
	release := make(chan struct{})
	s := testServer(t, blockingRun(release))
	q := s.queue
	a, joined, err := q.submit(request(s, "memory", "alice"))
	if err != nil || joined {
		t.Fatal(err, joined)
	}
	// The same build joins the job under way, and counts against nobody.
	if j, joined, err := q.submit(request(s, "memory", "bob")); err != nil || !joined || j != a {
		t.Fatalf("the same build again: %v %v", joined, err)
	}
	b, _, err := q.submit(request(s, "bolt", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.submit(request(s, "redis,memory", "alice")); err == nil || !strings.Contains(err.Error(), "allows 2 per client") {
		t.Fatalf("a third build of one client: %v", err)
	}
	if p := q.position(b); p != 1 {
		t.Errorf("the second build waits at position %d", p)
	}
	for _, spec := range []string{"redis,memory", "postgres,memory"} {
		if _, _, err := q.submit(request(s, spec, "carol-"+spec)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := q.submit(request(s, "splunk,memory", "dave")); err == nil || !strings.Contains(err.Error(), "queue is full (3 builds waiting)") {
		t.Fatalf("beyond the queue: %v", err)
	}
	q.cancelJob(b)
	if _, ended, _ := b.since(0); !ended || b.state != "cancelled" {
		t.Errorf("a cancelled waiting build: %s", b.state)
	}
	close(release)
	waitEnded(t, a)
	if a.state != "done" {
		t.Errorf("the first build: %s %s", a.state, a.err)
	}
}

func waitEnded(t *testing.T, j *job) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		_, ended, changed := j.since(0)
		if ended {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("job %s did not end", j.id)
		}
	}
}

// TestEventStream reads a build's progress as a browser's EventSource
// does, and resumes after Last-Event-ID.
func TestEventStream(t *testing.T) {
	release := make(chan struct{})
	s := testServer(t, func(ctx context.Context, j *job) (*cacheEntry, error) {
		j.emit("stage", map[string]string{"stage": "compiling", "text": "compiling"})
		j.emit("log", map[string]string{"line": "go build"})
		<-release
		return &cacheEntry{Key: j.req.key, builtFile: builtFile{File: "navius", SHA256: "abc"}}, nil
	})
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	j, _, err := s.queue.submit(request(s, "memory", "alice"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); close(release) }()
	read := func(last string) []string {
		req, _ := http.NewRequest("GET", srv.URL+"/api/builds/"+j.id+"/events", nil)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", res.Header)
		}
		var types []string
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				types = append(types, v)
			}
		}
		return types
	}
	all := read("")
	if strings.Join(all, " ") != "stage log done" {
		t.Errorf("events %v", all)
	}
	if rest := read("2"); strings.Join(rest, " ") != "done" {
		t.Errorf("after Last-Event-ID 2: %v", rest)
	}
}

func TestCacheLRU(t *testing.T) {
	dir := t.TempDir()
	m := &webMetrics{}
	c, err := openCache(dir, 250, m)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, size int) {
		t.Helper()
		staged, err := os.MkdirTemp(c.tmpDir(), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(staged, "f"), make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := c.put(&cacheEntry{Key: key, builtFile: builtFile{File: "f", Size: int64(size)}}, staged); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // distinct use times
	}
	put("a", 100)
	put("b", 100)
	if c.get("a") == nil { // a is now the most recently used
		t.Fatal("a is missing")
	}
	time.Sleep(10 * time.Millisecond)
	put("c", 100) // over 250: b, the least recently used, goes
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil {
		t.Errorf("after c: a %v b %v c %v", c.get("a") != nil, c.get("b") != nil, c.get("c") != nil)
	}
	if _, err := os.Stat(filepath.Join(dir, "b")); !os.IsNotExist(err) {
		t.Errorf("b's directory is still there: %v", err)
	}
	if m.evictions != 1 || m.cacheBytes != 200 {
		t.Errorf("evictions %d, bytes %d", m.evictions, m.cacheBytes)
	}
	// A restart keeps the entries; a half-written one is removed.
	if err := os.MkdirAll(filepath.Join(dir, "stray"), 0o755); err != nil {
		t.Fatal(err)
	}
	c2, err := openCache(dir, 250, &webMetrics{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.get("a") == nil || c2.get("c") == nil || len(c2.entries) != 2 {
		t.Errorf("after a restart: %d entries", len(c2.entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "stray")); !os.IsNotExist(err) {
		t.Error("a stray directory survived the restart")
	}
}

func TestParams(t *testing.T) {
	s := testServer(t, nil)
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	for path, want := range map[string]string{
		"/api/selection?features=memory&x=1":                   `unknown parameter \"x\"`,
		"/api/selection?features=memory&features=bolt":         `\"features\" is given 2 times`,
		"/api/selection?features=" + strings.Repeat("a", 3000): "the query string has",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode < 400 || !strings.Contains(string(body), want) {
			t.Errorf("%.60s: %d %s", path, res.StatusCode, body)
		}
	}
}

// TestProfilesOffered: without a source tree the page offers the profiles
// shipped in the binary; with one, a profile that builds in --with modules
// is offered when the catalog has them (at the catalog's version), and one
// that needs a module outside the catalog, or does not resolve, is left
// out with its reason in the log.
func TestProfilesOffered(t *testing.T) {
	m, err := manifest.Load("../../features.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", t.TempDir()) // newWebServer points it into its cache
	newServer := func(tr *tree, catalog string) (*webServer, string) {
		t.Helper()
		var logs bytes.Buffer
		log := logrus.New()
		log.SetOutput(&logs)
		opts := serveOptions{catalog: catalog, cacheDir: t.TempDir(), cacheSize: 1 << 20, concurrency: 1, queue: 1, perClient: 1}
		s, err := newWebServer(context.Background(), &cli.Env{Manifest: m}, tr, "no source tree", opts, nil, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.close)
		return s, logs.String()
	}
	names := func(s *webServer) []string {
		var out []string
		for _, p := range s.profiles {
			out = append(out, p.Name)
		}
		return out
	}

	s, _ := newServer(nil, "")
	if got := names(s); !slices.Equal(got, shippedProfiles) || len(got) == 0 {
		t.Errorf("catalog only: profiles %v, want the shipped %v", got, shippedProfiles)
	}

	dir := t.TempDir()
	fsdb, err := filepath.Abs("../../examples/fsdb")
	if err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "catalog.json")
	files := map[string]string{
		catalog:                   `{"modules": [{"module": "example.com/navius-fsdb", "version": "v0.1.0", "dir": "` + fsdb + `", "description": "fsdb"}]}`,
		"profiles/plain.json":     `{"name": "plain", "features": ["memory"]}`,
		"profiles/withfsdb.json":  `{"name": "withfsdb", "features": ["fsdb", "memory"], "with": ["example.com/navius-fsdb@v0.0.9"]}`,
		"profiles/elsewhere.json": `{"name": "elsewhere", "features": ["memory"], "with": ["example.com/navius-kafka@v1.0.0"]}`,
		"profiles/stale.json":     `{"name": "stale", "features": ["memory", "gone"]}`,
	}
	for name, data := range files {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, logs := newServer(&tree{dir: dir, manifest: m}, catalog)
	if got := names(s); !slices.Equal(got, []string{"plain", "withfsdb"}) {
		t.Fatalf("profiles %v, want plain and withfsdb\n%s", got, logs)
	}
	if with := s.profiles[1].With; !slices.Equal(with, []string{"example.com/navius-fsdb@v0.1.0"}) {
		t.Errorf("withfsdb offered with %v, want the catalog's version", with)
	}
	for _, want := range []string{
		`profile=elsewhere reason="it builds in module example.com/navius-kafka, which is not in this builder's catalog`,
		`profile=stale reason="its features do not resolve here: unknown feature \"gone\"`,
		`the profile names v0.0.9`,
	} {
		if strings.Count(logs, want) != 1 {
			t.Errorf("the log does not say once %q:\n%s", want, logs)
		}
	}
}

// TestResolveBuild: a build's first stage is resolving, which resolves
// navius's version as the tree is when the build starts; the key it
// returns (the result's) is the tree's now, and a request keyed by an
// older tree is said to build the tree as it is.
func TestResolveBuild(t *testing.T) {
	s := testServer(t, nil)
	sel, err := s.resolve("memory")
	if err != nil {
		t.Fatal(err)
	}
	now := s.cacheKey(sel, "linux/amd64", "binary")
	for _, queuedKey := range []string{now, "the key of the tree before a commit"} {
		j := &job{req: buildRequest{sel: sel, platform: "linux/amd64", artifact: "binary", key: queuedKey}, changed: make(chan struct{})}
		tr := &tree{dir: s.t.dir, manifest: s.nav}
		key, _, err := s.resolveBuild(context.Background(), &progressWriter{j: j}, j, tr, "linux", "amd64")
		if err != nil {
			t.Fatal(err)
		}
		if key != now {
			t.Errorf("resolving keys the result %s; the tree's key is %s", key, now)
		}
		events, _, _ := j.since(0)
		var log []string
		for _, ev := range events[1:] {
			log = append(log, ev.Data.(map[string]string)["line"])
		}
		if first := events[0].Data.(map[string]string); events[0].Type != "stage" || first["stage"] != "resolving" {
			t.Errorf("the first event is %s %v, not the resolving stage", events[0].Type, first)
		}
		if !strings.HasPrefix(log[0], "navius:   "+s.t.version()+", revision ") {
			t.Errorf("resolving says %q", log)
		}
		changed := slices.ContainsFunc(log, func(l string) bool { return strings.Contains(l, "the source tree changed while this build waited") })
		if changed != (queuedKey != now) {
			t.Errorf("queued as %q: resolving says %q", queuedKey, log)
		}
	}
}
