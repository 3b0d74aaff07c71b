package browsertest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/navius-dev/navius/internal/harness"
)

// chromiumPath is Debian's chromium (scripts/deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with a fresh profile. The flags
// keep it from opening connections of its own (updates, sync, QUIC).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("CHROMIUM"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no Chromium at %s (scripts/deps.sh installs Debian's chromium; CHROMIUM=PATH names another): %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root here
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1100),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// within runs steps with a time bound, failing the test with what the
// page showed when they do not finish.
func within(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("aside").innerText`))
		t.Fatalf("%s: %v\nthe page's summary:\n%s\nbuilder serve:\n%s", what, err, text, builder.Logs())
	}
}

func text(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return s
}

func estimate(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	n, err := strconv.ParseInt(text(t, ctx, `document.getElementById("estimate").dataset.bytes`), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// screenshot saves the page under docs/ when NAVIUS_SCREENSHOTS=1 (the
// README shows them), else in the test's directory: a test run leaves the
// tree as it found it unless asked.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := t.TempDir()
	if os.Getenv("NAVIUS_SCREENSHOTS") == "1" {
		dir = filepath.Join(root, "docs")
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", filepath.Join(dir, name), len(png))
}

// settled: no change of the selection is waiting for the resolver.
const settled = `document.body.dataset.resolving === "0"`

// TestPage drives the page as a person would: tick redis and see the
// estimate rise by its measured size; untick memory and see why that
// matters; see a requirement added and a removal refused; build a
// linux/amd64 binary, follow its progress to the download, and run the
// downloaded binary.
func TestPage(t *testing.T) {
	ctx := newBrowser(t)
	within(t, ctx, time.Minute, "opening the page",
		chromedp.Navigate(builder.URL+"/"),
		chromedp.Poll[chromedp.Void](`document.getElementById("estimate").dataset.bytes !== "0"`),
	)
	// The page opens on the defaults, as make build does.
	defaults := nav.Defaults()
	for _, f := range nav.Features {
		want := slices.Contains(defaults, f.Name)
		if got := text(t, ctx, `String(document.getElementById("f-`+f.Name+`").checked)`); got != strconv.FormatBool(want) {
			t.Errorf("feature %s ticked: %s, want %v", f.Name, got, want)
		}
	}

	before := estimate(t, ctx)
	redis := *nav.Feature("redis").SizeImpact
	within(t, ctx, 30*time.Second, "ticking redis",
		chromedp.Click("#f-redis"),
		chromedp.Poll[chromedp.Void](`document.getElementById("estimate").dataset.bytes === "`+strconv.FormatInt(before+redis, 10)+`"`),
	)
	if !strings.Contains(text(t, ctx, `location.search`), "redis") {
		t.Errorf("the URL does not carry the selection: %s", text(t, ctx, `location.search`))
	}
	if cmd := text(t, ctx, `document.getElementById("make-cmd").textContent`); cmd != "make build FEATURES=bolt,builder,memory,prometheus,redis" {
		t.Errorf("the make command is %q", cmd)
	}

	// memory: no feature needs it, but the default config's cache does.
	within(t, ctx, 30*time.Second, "unticking memory",
		chromedp.Click("#f-memory"),
		chromedp.Poll[chromedp.Void](`document.getElementById("notes").textContent.includes("without memory")`),
	)
	note := text(t, ctx, `document.getElementById("notes").textContent`)
	if !strings.Contains(note, "cache.url memory://") {
		t.Errorf("the note on memory says %q", note)
	}

	// A catalog module that requires memory: ticking it adds memory as a
	// requirement; unticking memory then is refused, with the resolver's
	// reason.
	within(t, ctx, 30*time.Second, "ticking fsdb",
		chromedp.Click("#f-fsdb"),
		chromedp.Poll[chromedp.Void](`document.getElementById("f-memory").checked && document.getElementById("req-memory").textContent.includes("required by fsdb")`),
	)
	within(t, ctx, 30*time.Second, "unticking memory that fsdb requires",
		chromedp.Click("#f-memory"),
		chromedp.Poll[chromedp.Void](`!document.getElementById("message").hidden`),
	)
	msg := text(t, ctx, `document.getElementById("message").textContent`)
	if !strings.Contains(msg, `cannot remove feature "memory": required by "fsdb"`) {
		t.Errorf("the refusal says %q", msg)
	}
	if text(t, ctx, `String(document.getElementById("f-memory").checked)`) != "true" {
		t.Error("memory was unticked although the resolver refused it")
	}
	screenshot(t, ctx, "builder-page.png")
	within(t, ctx, 30*time.Second, "unticking fsdb, then memory",
		chromedp.Click("#f-fsdb"),
		chromedp.Click("#f-memory"),
		chromedp.Poll[chromedp.Void](settled+` && !document.getElementById("f-fsdb").checked && !document.getElementById("f-memory").checked && document.getElementById("message").hidden`),
	)
	want := []string{"bolt", "builder", "prometheus", "redis"}

	// Build it: linux/amd64, a binary; follow the progress to the download.
	downloads := t.TempDir()
	done := make(chan string, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			select {
			case done <- e.GUID:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	enabled := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	within(t, ctx, 8*time.Minute, "building",
		chromedp.SetValue("#platform", "linux/amd64"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("platform").dispatchEvent(new Event("change"))`),
		chromedp.Click("#artifact-binary"),
		chromedp.Click("#build"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#stages [data-stage=compiling]") !== null`),
		chromedp.Poll[chromedp.Void](`!document.getElementById("result").hidden || !document.getElementById("build-error").hidden`, chromedp.WithPollingTimeout(0)),
	)
	if e := text(t, ctx, `document.getElementById("build-error").textContent`); e != "" {
		t.Fatalf("the build failed: %s", e)
	}
	sum := text(t, ctx, `document.getElementById("sha256").textContent`)
	shown := text(t, ctx, `document.getElementById("features-text").textContent`)
	screenshot(t, ctx, "builder-page-built.png")
	within(t, ctx, time.Minute, "downloading", chromedp.Click("#download"))
	var guid string
	select {
	case guid = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the download did not complete in 2 minutes")
	}
	bin := filepath.Join(downloads, guid)
	if got := harness.FileSHA256(t, bin); got != sum {
		t.Errorf("the page shows SHA-256 %s; the download's is %s", sum, got)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := reportedFeatures(t, bin); !slices.Equal(got, want) {
		t.Errorf("the downloaded binary reports %v; the page selected %v", got, want)
	}
	out, err := exec.Command(bin, "--features").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != shown {
		t.Errorf("the page shows --features as\n%s\nthe binary prints\n%s", shown, out)
	}
}

// TestBrokenModuleRefusedOnPage: the kit's broken fixture is refused when
// it is first built, the page naming the failing case, and the catalog
// marks it refused.
func TestBrokenModuleRefusedOnPage(t *testing.T) {
	ctx := newBrowser(t)
	within(t, ctx, 8*time.Minute, "building with the broken module",
		chromedp.Navigate(builder.URL+"/?features=memory,brokenfsdb&platform=linux/amd64&artifact=binary"),
		chromedp.Poll[chromedp.Void](`document.getElementById("f-brokenfsdb") && document.getElementById("f-brokenfsdb").checked`),
		chromedp.Click("#build"),
		chromedp.Poll[chromedp.Void](`!document.getElementById("build-error").hidden`, chromedp.WithPollingTimeout(0)),
		chromedp.Poll[chromedp.Void](`document.getElementById("verify-brokenfsdb").textContent === "refused"`),
	)
	msg := text(t, ctx, `document.getElementById("build-error").textContent`)
	for _, want := range []string{"example.com/navius-brokenfsdb", "is refused", "TestNaviusHarness/brokenfsdb/", "/Delete failed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal %q does not name %q", msg, want)
		}
	}
	if stages := text(t, ctx, `document.getElementById("stages").textContent`); !strings.Contains(stages, "verifying example.com/navius-brokenfsdb") || strings.Contains(stages, "compiling navius") {
		t.Errorf("the stages shown are %q: verification, and no compilation, expected", stages)
	}
	screenshot(t, ctx, "builder-page-refused.png")
}

// TestProfileButton: a shipped profile is a one-click starting point:
// clicking it ticks exactly its features, and the URL and the make command
// carry them.
func TestProfileButton(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "profiles", "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Features []string }
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(p.Features))
	if slices.Equal(want, slices.Sorted(slices.Values(nav.Defaults()))) {
		t.Fatalf("profile server is the defaults (%v): the click would show nothing", want)
	}
	ctx := newBrowser(t)
	within(t, ctx, time.Minute, "opening the page and clicking the server profile",
		chromedp.Navigate(builder.URL+"/"),
		chromedp.Poll[chromedp.Void](settled+` && document.getElementById("estimate").dataset.bytes !== "0"`),
		chromedp.Click(`#profiles button[data-profile="server"]`),
		chromedp.Poll[chromedp.Void](settled+` && !document.getElementById("f-builder").checked`),
	)
	ticked := strings.Fields(text(t, ctx, `[...document.querySelectorAll("#catalog input[type=checkbox]:checked")].map((b) => b.value).sort().join(" ")`))
	if !slices.Equal(ticked, want) {
		t.Errorf("after the click the page ticks %v; profile server has %v", ticked, want)
	}
	query := strings.Split(text(t, ctx, `new URLSearchParams(location.search).get("features")`), ",")
	if slices.Sort(query); !slices.Equal(query, want) {
		t.Errorf("the URL carries features %v; profile server has %v", query, want)
	}
	mk := text(t, ctx, `document.getElementById("make-cmd").textContent`)
	list, ok := strings.CutPrefix(mk, "make build FEATURES=")
	got := strings.Split(list, ",")
	if slices.Sort(got); !ok || !slices.Equal(got, want) {
		t.Errorf("the make command is %q; profile server has %v", mk, want)
	}
}
