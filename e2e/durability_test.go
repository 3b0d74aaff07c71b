package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// durabilityCycles is how many kill/restart cycles TestCrashDurability runs:
// a few in make test, more in make soak (NAVIUS_DURABILITY_CYCLES).
func durabilityCycles() int {
	if n, err := strconv.Atoi(os.Getenv("NAVIUS_DURABILITY_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 3
}

func valueFor(key string) string { return "value-of-" + key + strings.Repeat("#", len(key)%37) }

// load runs concurrent writers against p until ctx ends and returns the keys
// whose PUT was acknowledged with 204.
func load(ctx context.Context, p *proc, writers int, prefix string) []string {
	var acked []string
	writeUntil(ctx, writers, prefix, func(key string) *http.Request {
		req, _ := http.NewRequest("PUT", p.URL+"/api/v1/durable/"+key, strings.NewReader(valueFor(key)))
		return req
	}, func(key string, status int) {
		if status == http.StatusNoContent {
			acked = append(acked, key)
		}
	})
	return acked
}

// writeUntil runs writers concurrent clients until ctx ends, each sending
// one request after another (100,000 at the most): newReq(id) for a fresh
// id (prefix-wW-I), then record(id, status), one record at a time (status
// 0 when the request failed, as it does while the server goes away).
func writeUntil(ctx context.Context, writers int, prefix string, newReq func(id string) *http.Request, record func(id string, status int)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 100_000; i++ {
				id := fmt.Sprintf("%s-w%d-%d", prefix, w, i)
				status := 0
				if resp, err := client.Do(newReq(id)); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				} else if ctx.Err() == nil {
					time.Sleep(time.Millisecond) // the server is going away
				}
				mu.Lock()
				record(id, status)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// verify reads every acknowledged key back from p.
func verify(t *testing.T, p *proc, keys []string) {
	t.Helper()
	missing := 0
	for _, k := range keys {
		status, body := p.Do(t, "GET", "/api/v1/durable/"+k, "")
		if status != 200 || body != valueFor(k) {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged write %s: GET = %d %.60q", k, status, body)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(keys))
	}
}

// TestCrashDurability kills navius (bolt) with SIGKILL at a random moment
// under concurrent PUT load, restarts it and checks that every acknowledged
// write is there with its value; repeated over several cycles on one file.
func TestCrashDurability(t *testing.T) {
	bin, _ := binary(t, "default")
	crashDurability(t, bin, nil)
}

// crashDurability runs bin (with env) in one directory through
// durabilityCycles SIGKILLs under concurrent PUT load; after each restart,
// and at the end, every write acknowledged before a kill is there with its
// value.
func crashDurability(t *testing.T, bin string, env []string) {
	t.Helper()
	dir := t.TempDir()
	var all []string
	cycles := durabilityCycles()
	for c := range cycles {
		p := serve(t, bin, dir, env, "--log-access=false")
		if len(all) > 0 {
			verify(t, p, all) // what survived earlier kills is still there
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan []string)
		go func() { done <- load(ctx, p, 16, fmt.Sprintf("c%d", c)) }()
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.Done
		cancel()
		acked := <-done
		if len(acked) == 0 {
			t.Fatalf("cycle %d: no write was acknowledged before the kill", c)
		}
		all = append(all, acked...)
		t.Logf("cycle %d: %d writes acknowledged before SIGKILL", c, len(acked))
	}
	p := serve(t, bin, dir, env, "--log-access=false")
	verify(t, p, all)
	t.Logf("%d cycles, %d acknowledged writes verified", cycles, len(all))
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestGracefulStopUnderLoad sends SIGTERM while writers are busy: navius
// exits 0, requests in flight either complete or are refused, and nothing
// acknowledged is lost.
func TestGracefulStopUnderLoad(t *testing.T) {
	bin, _ := binary(t, "default")
	dir := t.TempDir()
	p := serve(t, bin, dir, nil, "--log-access=false")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []string)
	go func() { done <- load(ctx, p, 16, "term") }()
	time.Sleep(300 * time.Millisecond)
	err := p.Stop(t)
	cancel()
	acked := <-done
	var exitErr interface{ ExitCode() int }
	if err != nil && (!errors.As(err, &exitErr) || exitErr.ExitCode() != 0) {
		t.Fatalf("exit after SIGTERM under load: %v\n%s", err, p.Logs())
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	p = serve(t, bin, dir, nil, "--log-access=false")
	verify(t, p, acked)
	_ = p.Stop(t)
}
