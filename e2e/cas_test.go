package e2e

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// casResult is what a run of read-modify-write increments saw.
type casResult struct {
	Acked, Retries, Errors int64
	Final                  int
	Elapsed                time.Duration
}

func (r casResult) String() string {
	return fmt.Sprintf("%d increments acknowledged in %s (%.0f/s), %d retries on 412 (%.2f per increment), %d other errors retried, final value %d",
		r.Acked, r.Elapsed.Round(time.Millisecond), float64(r.Acked)/r.Elapsed.Seconds(), r.Retries, float64(r.Retries)/max(float64(r.Acked), 1), r.Errors, r.Final)
}

// casIncrements has clients goroutines each increment the counter at path
// each times by GET, +1 and PUT with If-Match, retrying on 412 (and, while
// tolerate is set, on any other failure: a failover), spreading the
// clients over the base URLs of several instances. It creates the counter
// at 0, then reads the final value every instance agrees on. Every loop is
// bounded: an increment that cannot get through in a minute fails the
// test.
func casIncrements(t *testing.T, bases []string, path string, clients, each int, tolerate *atomic.Bool) casResult {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, url, body string, hdr ...string) (int, string, http.Header, error) {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			return 0, "", nil, err
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header, err
	}
	if code, body, _, err := do("PUT", bases[0]+path, "0"); err != nil || code != http.StatusNoContent {
		t.Fatalf("creating the counter: %d %s %v", code, body, err)
	}
	var res casResult
	var acked, retries, errs atomic.Int64
	res.Elapsed = eachWorker(t, clients, each, func(c int) error {
		base := bases[c%len(bases)]
		deadline := time.Now().Add(time.Minute)
		for {
			if time.Now().After(deadline) {
				return fmt.Errorf("client %d: an increment did not get through in a minute", c)
			}
			code, body, hdr, err := do("GET", base+path, "")
			if err != nil || code != http.StatusOK {
				if tolerate != nil && tolerate.Load() {
					errs.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				return fmt.Errorf("client %d: GET %s: %d %s %v", c, path, code, body, err)
			}
			n, err := strconv.Atoi(body)
			if err != nil {
				return fmt.Errorf("client %d: the counter holds %q", c, body)
			}
			code, body, _, err = do("PUT", base+path, strconv.Itoa(n+1), "If-Match", hdr.Get("ETag"))
			switch {
			case err == nil && code == http.StatusNoContent:
				acked.Add(1)
				return nil
			case err == nil && code == http.StatusPreconditionFailed:
				retries.Add(1)
			case tolerate != nil && tolerate.Load():
				// During a failover a write may fail: it was not
				// acknowledged, so it must not count; try again.
				errs.Add(1)
				time.Sleep(20 * time.Millisecond)
			default:
				return fmt.Errorf("client %d: PUT %s: %d %s %v", c, path, code, body, err)
			}
		}
	})
	res.Acked, res.Retries, res.Errors = acked.Load(), retries.Load(), errs.Load()
	// An instance may hold, in its cache, the value from before the last
	// write made through another until its change feed tells it: the final
	// value is the one every instance agrees on (within 10 s).
	var values []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		values = values[:0]
		for _, base := range bases {
			code, body, _, err := do("GET", base+path, "")
			if err != nil || code != http.StatusOK {
				t.Fatalf("reading the final counter from %s: %d %s %v", base, code, body, err)
			}
			values = append(values, body)
		}
		if slices.Equal(values[1:], values[:len(values)-1]) || time.Now().After(deadline) {
			break
		}
	}
	var err error
	if res.Final, err = strconv.Atoi(values[0]); err != nil {
		t.Fatalf("the final counter holds %q", values[0])
	}
	if !slices.Equal(values[1:], values[:len(values)-1]) {
		t.Fatalf("10 s after the last write the instances still disagree on the counter: %q", values)
	}
	return res
}

// wantNoLostUpdates fails unless every acknowledged increment counted.
func wantNoLostUpdates(t *testing.T, r casResult, want int) {
	t.Helper()
	t.Log(r)
	if int64(r.Final) != r.Acked || r.Acked != int64(want) {
		t.Fatalf("%d increments acknowledged (want %d), final value %d: %d updates lost", r.Acked, want, r.Final, r.Acked-int64(r.Final))
	}
}

// Within one instance on the memory database: 16 clients, 50 increments
// each, with If-Match and retries on 412, lose nothing.
func TestNoLostUpdatesMemory(t *testing.T) {
	bin, _ := binary(t, "memory")
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=memory://", "NAVIUS_LOG_ACCESS=false"})
	r := casIncrements(t, []string{p.URL}, "/api/v1/counters/memory", 16, 50, nil)
	wantNoLostUpdates(t, r, 16*50)
	_ = p.Stop(t)
}
