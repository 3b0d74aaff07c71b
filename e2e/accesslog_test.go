package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestAccessLogSIGTERMLosesNoLine runs the binary as shipped (access log
// on) under concurrent load and sends SIGTERM in the middle of it: every
// request that got an answer has exactly one access line, written before
// "stopped", although the lines are written off the request path.
func TestAccessLogSIGTERMLosesNoLine(t *testing.T) {
	bin, _ := binary(t, "default")
	p := serve(t, bin, t.TempDir(), nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 10 * time.Second}

	const n = 4000
	var (
		mu       sync.Mutex
		answered = map[string]int{} // request ID -> status
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if i == n/2 {
					_ = p.Cmd.Process.Signal(syscall.SIGTERM)
				}
				id := fmt.Sprintf("term-%d", i)
				method, path := "GET", "/livez"
				if i%2 == 1 {
					method, path = "PUT", fmt.Sprintf("/api/v1/term/k%d", i)
				}
				req, _ := http.NewRequest(method, p.URL+path, strings.NewReader("v"))
				req.Header.Set("X-Request-ID", id)
				resp, err := client.Do(req)
				if err != nil {
					continue // after shutdown began: refused, not answered
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				answered[id] = resp.StatusCode
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-p.Done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("navius did not stop within 20s of SIGTERM")
	}
	if len(answered) < n/4 { // the signal goes out after n/2 were sent; most of those are answered
		t.Fatalf("only %d of %d requests answered before the SIGTERM took effect", len(answered), n)
	}

	lines := map[string]int{}
	stopped, afterStop := false, 0
	for _, line := range strings.Split(p.Logs(), "\n") {
		var e struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			Status    int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		switch {
		case e.Msg == "stopped":
			stopped = true
		case e.Msg == "request" && strings.HasPrefix(e.RequestID, "term-"):
			lines[e.RequestID]++
			if stopped {
				afterStop++
			}
			if want, ok := answered[e.RequestID]; ok && e.Status != want {
				t.Errorf("access line of %s says status %d, the client got %d", e.RequestID, e.Status, want)
			}
		}
	}
	var missing []string
	for id := range answered {
		if lines[id] != 1 {
			missing = append(missing, fmt.Sprintf("%s (%d lines)", id, lines[id]))
		}
	}
	if len(missing) > 0 || !stopped || afterStop > 0 {
		t.Fatalf("%d of %d answered requests lack exactly one access line (e.g. %v); stopped logged: %v; lines after it: %d",
			len(missing), len(answered), missing[:min(5, len(missing))], stopped, afterStop)
	}
}
