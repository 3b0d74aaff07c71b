package browsertest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/build"
	"github.com/navius-dev/navius/internal/tartest"
)

// events reads a build's server-sent events to its end and returns their
// types and data, in order.
func events(t *testing.T, path string) (types, data []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", builder.URL+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: Content-Type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			types = append(types, v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data = append(data, v)
		}
	}
	return types, data
}

func startBuild(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	code, body := do(t, "POST", builder.URL, "/api/builds", form.Encode())
	var st map[string]any
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("POST /api/builds: %d %s", code, body)
	}
	return code, st
}

// TestModuleVerifiedThenCached: a catalog module is verified before its
// first build (the events say so, in that order); the same request again
// gives the same bytes, from the cache (seen in the metrics), and no second
// verification.
func TestModuleVerifiedThenCached(t *testing.T) {
	form := url.Values{"features": {"memory,fsdb"}, "platform": {"linux/amd64"}, "artifact": {"binary"}}
	verified, hits, built := metric(t, `navius_builder_module_verifications_total{result="verified"}`), metric(t, "navius_builder_cache_hits_total"), metric(t, `navius_builder_requests_total{outcome="built"}`)
	code, st := startBuild(t, form)
	if code != http.StatusAccepted {
		t.Fatalf("POST /api/builds: %d %v", code, st)
	}
	types, data := events(t, st["events"].(string))
	order, lines := stages(types, data)
	if types[len(types)-1] != "done" {
		t.Fatalf("the build ended with %s: %s\n%s", types[len(types)-1], data[len(data)-1], builder.Logs())
	}
	if len(order) == 0 || order[0] != "resolving" {
		t.Errorf("stages %v: the stream must start with resolving", order)
	}
	if i, j := indexOf(order, "verifying"), indexOf(order, "compiling"); i < 0 || j < 0 || i > j {
		t.Errorf("stages %v: verifying must come before compiling", order)
	}
	// The module's resolution is done once, in the resolving stage, and
	// the build uses it.
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "module:   resolved before the build") }) {
		t.Errorf("the build did not use the workspace resolved first; its output:\n%s", strings.Join(lines, "\n"))
	}
	if got := metric(t, `navius_builder_module_verifications_total{result="verified"}`); got != verified+1 {
		t.Errorf("verifications: %v, then %v", verified, got)
	}
	var result struct {
		SHA256, Download, SBOM string
	}
	if err := json.Unmarshal([]byte(data[len(data)-1]), &result); err != nil {
		t.Fatal(err)
	}
	_, first := get(t, builder.URL, result.Download)

	// The same, scripted: /download answers the file at once, from the cache.
	code, second := get(t, builder.URL, "/download?"+form.Encode())
	if code != 200 {
		t.Fatalf("/download: %d %s", code, second)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("the same build requested twice gave different bytes")
	}
	if sum := sha256.Sum256(second); hex.EncodeToString(sum[:]) != result.SHA256 {
		t.Errorf("the download's SHA-256 is not the one the build reported (%s)", result.SHA256)
	}
	if got := metric(t, "navius_builder_cache_hits_total"); got != hits+1 {
		t.Errorf("cache hits: %v, then %v", hits, got)
	}
	if got := metric(t, `navius_builder_requests_total{outcome="built"}`); got != built+1 {
		t.Errorf("builds: %v, then %v: the second request built again", built, got)
	}
	if got := metric(t, `navius_builder_module_verifications_total{result="verified"}`); got != verified+1 {
		t.Errorf("the module was verified again: %v", got)
	}
	code, sbom := get(t, builder.URL, result.SBOM)
	if code != 200 || !bytes.Contains(sbom, []byte(`"example.com/navius-fsdb"`)) || !bytes.Contains(sbom, []byte("CycloneDX")) {
		t.Errorf("the SBOM (%d) does not name the module: %.300s", code, sbom)
	}
	bin := filepath.Join(t.TempDir(), "navius")
	if err := os.WriteFile(bin, second, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := reportedFeatures(t, bin); strings.Join(got, ",") != "fsdb,memory" {
		t.Errorf("the binary reports %v", got)
	}
}

// stages are the stage names of a build's events, in order, and the lines
// of its output.
func stages(types, data []string) (order, lines []string) {
	for i, typ := range types {
		var d struct{ Stage, Line string }
		_ = json.Unmarshal([]byte(data[i]), &d)
		switch typ {
		case "stage":
			order = append(order, d.Stage)
		case "log":
			lines = append(lines, d.Line)
		}
	}
	return order, lines
}

// TestArchiveBuilt: a release archive built through builder serve, the
// way the API documents it, to its download: its stages in order, a
// tar.gz holding the binary and its SBOM, the SHA-256 the build reports
// (and the Repr-Digest header) the download's, the SBOM served the one
// in the archive, and the binary carrying the selection. One build of
// memory alone, for the host when it is linux/amd64.
func TestArchiveBuilt(t *testing.T) {
	form := url.Values{"features": {"memory"}, "platform": {"linux/amd64"}, "artifact": {"archive"}}
	code, st := startBuild(t, form)
	if code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("POST /api/builds: %d %v", code, st)
	}
	types, data := events(t, st["events"].(string))
	if types[len(types)-1] != "done" {
		t.Fatalf("the build ended with %s: %s\n%s", types[len(types)-1], data[len(data)-1], builder.Logs())
	}
	order, _ := stages(types, data)
	if i, j, k := indexOf(order, "resolving"), indexOf(order, "compiling"), indexOf(order, "packaging"); i != 0 || j < i || k < j {
		t.Errorf("stages %v: want resolving first, then compiling, then packaging", order)
	}
	var result struct {
		File, SHA256, Download, SBOM, Artifact string
	}
	if err := json.Unmarshal([]byte(data[len(data)-1]), &result); err != nil {
		t.Fatal(err)
	}
	if result.Artifact != "archive" || !strings.HasSuffix(result.File, "-linux-amd64.tar.gz") {
		t.Errorf("the result is %s %s, not a linux/amd64 release archive", result.Artifact, result.File)
	}
	res, err := http.Get(builder.URL + result.Download)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the download: %d %v", res.StatusCode, err)
	}
	sum := sha256.Sum256(archive)
	if hex.EncodeToString(sum[:]) != result.SHA256 {
		t.Errorf("the build reports SHA-256 %s; the download's is %x", result.SHA256, sum)
	}
	if got, want := res.Header.Get("Repr-Digest"), "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":"; got != want {
		t.Errorf("Repr-Digest %q, want %q", got, want)
	}
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("the download is not gzip: %v", err)
	}
	files := map[string][]byte{}
	tartest.Each(t, gz, func(h *tar.Header, data []byte) { files[path.Base(h.Name)] = data })
	bin, sbom := files["navius"], files["navius.cdx.json"]
	if bin == nil || sbom == nil {
		t.Fatalf("the archive holds %v: no binary or no SBOM", slices.Sorted(maps.Keys(files)))
	}
	if _, served := get(t, builder.URL, result.SBOM); !bytes.Equal(served, sbom) {
		t.Errorf("the SBOM served is not the archive's:\n%.300s", served)
	}
	if !bytes.Contains(sbom, []byte("CycloneDX")) {
		t.Errorf("the archive's SBOM is not CycloneDX: %.300s", sbom)
	}
	if build.HostPlatform() != "linux/amd64" {
		t.Skipf("a linux/amd64 binary does not run on this %s machine", build.HostPlatform())
	}
	binPath := filepath.Join(t.TempDir(), "navius")
	if err := os.WriteFile(binPath, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := reportedFeatures(t, binPath); !slices.Equal(got, []string{"memory"}) {
		t.Errorf("the archive's binary reports %v, not memory", got)
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// TestBadInput: each bad request gets a clear answer, naming the problem.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/download?features=memory,redsi", 400, `unknown feature "redsi" (did you mean "redis"?)`},
		{"/download?features=memory,github.com/evil/navius-miner", 400, "module github.com/evil/navius-miner is not in this builder's catalog"},
		{"/download?features=memory,github.com/evil/navius-miner@v1.0.0", 400, "only catalog modules can be built in"},
		{"/download?features=builder", 400, "no selected feature provides a database"},
		{"/download?features=memory&platform=plan9/mips", 400, `platform "plan9/mips" is not one this builder offers`},
		{"/download?features=memory&platform=windows/amd64&artifact=image", 400, "an image is for a Linux platform"},
		{"/download?features=memory&artifact=rpm", 400, `artifact "rpm": choose binary, archive or image`},
		{"/download?features=memory&with=example.com/x", 400, `unknown parameter "with"`},
		{"/download?features=memory&features=redis", 400, `"features" is given 2 times`},
		{"/download?features=" + strings.Repeat("memory,", 400), 414, "the query string has"},
		{"/api/selection?features=" + strings.Repeat("m,", 100), 400, "at most 64"},
		{"/api/builds/0123456789abcdef", 404, "no build 0123456789abcdef"},
	} {
		code, body := get(t, builder.URL, c.path)
		if code != c.code || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %.80s: %d %s; want %d and %q", c.path, code, body, c.code, c.want)
		}
		if bytes.Count(bytes.TrimSpace(body), []byte("\n")) > 3 {
			t.Errorf("GET %.80s: the answer is not one line: %s", c.path, body)
		}
	}
	// A header block beyond the server's limit is refused by net/http.
	code, _ := get(t, builder.URL, "/api/catalog", "X-Padding", strings.Repeat("x", 64<<10))
	if code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 64 KiB header: %d", code)
	}
	code, body := do(t, "POST", builder.URL, "/api/builds", "features="+strings.Repeat("memory,", 1000))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "over 4096 bytes") {
		t.Errorf("a large body: %d %s", code, body)
	}
}

// TestClientLimit: 20 build requests at once from one client, beyond its
// limit of 2, are refused with 429 and a reason; the accepted ones are
// cancelled, and their directories cleaned up.
func TestClientLimit(t *testing.T) {
	sets := []string{"memory,splunk", "memory,pprof", "memory,dynatrace", "memory,postgres", "bolt,splunk"}
	var mu sync.Mutex
	codes := map[int]int{}
	var accepted []string
	var refusal string
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"features": {sets[i%len(sets)]}, "platform": {"linux/arm64"}, "artifact": {"archive"}}
			if i >= len(sets) { // the rest differ in artefact or platform: no two are the same build
				form.Set("platform", []string{"linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64"}[(i/len(sets))%4])
			}
			code, st := startBuild(t, form)
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if code == http.StatusAccepted {
				accepted = append(accepted, st["id"].(string))
			} else if code == http.StatusTooManyRequests {
				refusal, _ = st["error"].(string)
			}
		}()
	}
	wg.Wait()
	for _, id := range accepted {
		if code, body := do(t, "DELETE", builder.URL, "/api/builds/"+id, ""); code != 200 {
			t.Errorf("cancel %s: %d %s", id, code, body)
		}
	}
	if codes[http.StatusAccepted] != 2 || codes[http.StatusTooManyRequests] != 18 {
		t.Fatalf("20 requests: %v; want 2 accepted and 18 refused", codes)
	}
	if !strings.Contains(refusal, "allows 2 per client") {
		t.Errorf("the refusal says %q", refusal)
	}
	for _, id := range accepted {
		if types, data := events(t, "/api/builds/"+id+"/events"); types[len(types)-1] != "failed" || !strings.Contains(data[len(data)-1], "cancelled") {
			t.Errorf("cancelled build %s ended with %v %v", id, types, data)
		}
	}
}

// TestAuth: with tokens configured, starting a build needs the build scope
// and /metrics the metrics scope.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	p, err := startBuilder(dir, []string{"NAVIUS_AUTH_TOKENS=build:builder-token-0123456789,metrics:scraper-token-0123456789"},
		"--source", root, "--cache", filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	bad := "/download?features=memroy"
	for _, c := range []struct {
		path, token string
		code        int
	}{
		{bad, "", 401},
		{bad, "wrong-token-0123456789", 401},
		{bad, "scraper-token-0123456789", 403},
		{bad, "builder-token-0123456789", 400}, // past the token: the features are wrong
		{"/metrics", "", 401},
		{"/metrics", "scraper-token-0123456789", 200},
		{"/api/catalog", "", 200},
	} {
		var h []string
		if c.token != "" {
			h = []string{"Authorization", "Bearer " + c.token}
		}
		code, body := get(t, p.URL, c.path, h...)
		if code != c.code {
			t.Errorf("GET %s with %q: %d %s; want %d", c.path, c.token, code, body, c.code)
		}
		if strings.Contains(string(body), "token-0123456789") || strings.Contains(p.Logs(), "token-0123456789") {
			t.Errorf("a token shows in an answer or the log")
		}
	}
	if _, body := get(t, p.URL, "/api/catalog"); !strings.Contains(string(body), `"auth": true`) {
		t.Errorf("the catalog does not say tokens are on: %.200s", body)
	}
}

// TestNoSourceTree: without a source tree, and unable to fetch navius
// through the module proxy (GOPROXY=off), the page shows the catalog and
// says why it cannot build; a build request says so too.
func TestNoSourceTree(t *testing.T) {
	dir := t.TempDir()
	p, err := startBuilder(dir, []string{"GOPROXY=off"}, "--cache", filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	code, body := get(t, p.URL, "/download?features=memory")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "no navius source tree") || !strings.Contains(string(body), "(this binary's version) is not available through GOPROXY=off") {
		t.Errorf("/download without a source tree: %d %s", code, body)
	}
	var c struct {
		Builds   bool   `json:"builds"`
		NoBuilds string `json:"no_builds"`
		Features []any  `json:"features"`
		Profiles []struct {
			Name string `json:"name"`
		} `json:"profiles"`
	}
	_, body = get(t, p.URL, "/api/catalog")
	if err := json.Unmarshal(body, &c); err != nil || c.Builds || c.NoBuilds == "" || len(c.Features) != len(nav.Features) {
		t.Errorf("the catalog without a source tree: %s", body)
	}
	// The profiles shipped in the binary are still starting points.
	shipped, _ := filepath.Glob(filepath.Join(root, "profiles", "*.json"))
	if len(c.Profiles) != len(shipped) || len(shipped) == 0 {
		t.Errorf("the catalog without a source tree offers %d profiles; %d ship: %s", len(c.Profiles), len(shipped), body)
	}
}
