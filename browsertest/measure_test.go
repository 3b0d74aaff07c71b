package browsertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/navius-dev/navius/internal/harness"
)

// TestMeasure (NAVIUS_BENCH=1 go test -run TestMeasure -v) measures the
// page's weight, the time from the click on Build to the finished download
// of the default features, cold (an empty result cache; Go's build cache as
// it is) and cached, and builder serve's memory idle and while building.
// It prints numbers and asserts nothing about them.
func TestMeasure(t *testing.T) {
	if os.Getenv("NAVIUS_BENCH") != "1" {
		t.Skip("NAVIUS_BENCH=1 runs it")
	}
	var weight int
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		data, err := os.ReadFile(filepath.Join(root, "internal", "builder", "web", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("page weight: %s %d bytes", name, len(data))
		weight += len(data)
	}
	t.Logf("page weight: %d bytes (HTML+JS+CSS), plus /api/catalog and /api/selection", weight)

	dir := t.TempDir()
	// NAVIUS_BENCH_GOCACHE=DIR gives builder serve a Go build cache of its
	// own (an empty one measures a build from nothing).
	var env []string
	if c := os.Getenv("NAVIUS_BENCH_GOCACHE"); c != "" {
		env = append(env, "GOCACHE="+c)
	}
	p, err := startBuilder(dir, env, "--source", root, "--cache", filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if _, body := get(t, p.URL, "/api/catalog"); len(body) > 0 {
		t.Logf("page weight: /api/catalog %d bytes", len(body))
	}
	time.Sleep(2 * time.Second)
	t.Logf("builder serve idle: RSS %d KiB", rss(p.Cmd.Process.Pid))

	var peak, peakTree int
	stop := harness.Repeat(1, 100*time.Millisecond, func(int) bool {
		peak = max(peak, rss(p.Cmd.Process.Pid))
		peakTree = max(peakTree, groupRSS(p.Cmd.Process.Pid))
		return true
	})
	ctx := newBrowser(t)
	downloads := t.TempDir()
	done := make(chan struct{}, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			done <- struct{}{}
		}
	}); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/?platform=linux/amd64&artifact=binary"),
		chromedp.Poll[chromedp.Void](`document.getElementById("estimate").dataset.bytes !== "0"`)); err != nil {
		t.Fatal(err)
	}
	for _, round := range []string{"cold", "cached"} {
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Click("#build"),
			chromedp.Poll[chromedp.Void](`!document.getElementById("result").hidden && document.getElementById("queue").textContent === "done"`, chromedp.WithPollingTimeout(8*time.Minute)),
			chromedp.Click("#download")); err != nil {
			t.Fatal(err)
		}
		<-done
		t.Logf("click to download, default features, %s: %v", round, time.Since(start).Round(10*time.Millisecond))
		if round == "cold" {
			stop()
			t.Logf("builder serve while building: peak RSS %d KiB (with its go build processes: %d KiB)", peak, peakTree)
			// Hide the result so the next round waits for its own.
			_ = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("result").hidden = true`))
		}
	}
}

// rss is a process's resident set in KiB (Linux).
func rss(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// groupRSS adds the resident sets of the processes in pid's process group.
func groupRSS(pgid int) int {
	entries, _ := os.ReadDir("/proc")
	total := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state ppid pgrp ...
		s := string(data)
		f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			total += rss(pid)
		}
	}
	return total
}
