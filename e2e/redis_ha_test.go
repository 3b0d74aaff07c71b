package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/redistest"
)

// Redis beyond one node: navius on a real Redis Cluster (three masters with
// a replica each) and a real Sentinel setup (a master, two replicas, three
// sentinels). Failovers are real: a master is SIGKILLed under write load.

// haEnv is the environment of a navius on topology url: fresh readiness
// (the health report is reused for 100 ms only), no access log.
func haEnv(url string, extra ...string) []string {
	return append([]string{"NAVIUS_DATABASE_URL=" + url, "NAVIUS_LOG_ACCESS=false", "NAVIUS_HEALTH_CACHE_TTL=100ms",
		"NAVIUS_DATABASE_MAX_CONNECTIONS=32"}, extra...)
}

// failoverStats is what a failover under write load measured.
type failoverStats struct {
	acked, failed int
	// unavailable runs from the kill to the end of the last failed write.
	unavailable time.Duration
	// readyFalse and readyBack are when /readyz answered 503 first after the
	// kill, and 200 first after that (zero: never).
	readyFalse, readyBack time.Duration
	lost                  int // acknowledged writes missing afterwards
	goroutinesBefore      int
	goroutinesAfter       int
	// why holds the first failure after each second since the kill.
	why map[int]string
}

func (s failoverStats) String() string {
	return fmt.Sprintf("%d writes acknowledged, %d failed; unavailable for %s after the kill; /readyz 503 after %s, 200 again after %s; %d acknowledged writes lost; goroutines %d before, %d after",
		s.acked, s.failed, s.unavailable.Round(time.Millisecond), s.readyFalse.Round(time.Millisecond), s.readyBack.Round(time.Millisecond),
		s.lost, s.goroutinesBefore, s.goroutinesAfter)
}

// failoverUnderLoad runs 16 writers PUTting new keys of collection coll
// through p, kills a master with kill after a second, lets recover wait for
// the topology to heal, and goes on until writes have succeeded for a
// second again (failing the test if that takes 30 s). Then it stops the
// load, counts the acknowledged writes a walk of the collection no longer
// finds, and checks that goroutines came back to where they were.
func failoverUnderLoad(t *testing.T, p *proc, coll string, kill, recover func()) failoverStats {
	t.Helper()
	st := failoverStats{why: map[int]string{}}
	waitStatus(t, p, "/readyz", 200, 10*time.Second)
	st.goroutinesBefore = goroutines(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var acked []string
	var lastFail, killed time.Time
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%02d-%06d", w, i)
				req, _ := http.NewRequestWithContext(ctx, "PUT", p.URL+"/api/v1/"+coll+"/"+key, strings.NewReader(valueFor(key)))
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						lastFail = time.Now()
						mu.Unlock()
						time.Sleep(time.Millisecond)
					}
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusNoContent {
					acked = append(acked, key)
				} else {
					st.failed++
					lastFail = time.Now()
					sec := -1
					if !killed.IsZero() {
						sec = int(time.Since(killed) / time.Second)
					}
					if _, ok := st.why[sec]; !ok {
						st.why[sec] = fmt.Sprintf("%d %s", resp.StatusCode, body)
					}
				}
				mu.Unlock()
			}
		}()
	}
	// /readyz, every 20 ms.
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		for ctx.Err() == nil {
			status := 0
			if resp, err := client.Get(p.URL + "/readyz"); err == nil {
				status = resp.StatusCode
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			if !killed.IsZero() {
				if status == 503 && st.readyFalse == 0 {
					st.readyFalse = time.Since(killed)
				} else if status == 200 && st.readyFalse != 0 && st.readyBack == 0 {
					st.readyBack = time.Since(killed)
				}
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	time.Sleep(time.Second)
	mu.Lock()
	if st.failed > 0 {
		mu.Unlock()
		t.Fatalf("%d writes failed before the kill: %s", st.failed, st.why[-1])
	}
	killed = time.Now()
	mu.Unlock()
	kill()
	recover()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		quiet := time.Since(lastFail) > time.Second && time.Since(killed) > time.Second
		mu.Unlock()
		if quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 30s after the kill\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	<-readyDone
	transport.CloseIdleConnections()
	if !lastFail.IsZero() {
		st.unavailable = lastFail.Sub(killed)
	}
	for sec := range 30 {
		if why, ok := st.why[sec]; ok {
			t.Logf("first failure %ds after the kill: %s", sec, why)
		}
	}
	st.acked = len(acked)

	present := walkKeys(t, p, coll)
	for _, k := range acked {
		if !present[k] {
			st.lost++
		}
	}
	// Goroutines come back (go-redis reloads and redials in the background
	// for a little while after a failover).
	deadline = time.Now().Add(5 * time.Second)
	for st.goroutinesAfter = goroutines(t, p); st.goroutinesAfter > st.goroutinesBefore+20 && time.Now().Before(deadline); st.goroutinesAfter = goroutines(t, p) {
		time.Sleep(100 * time.Millisecond)
	}
	if st.goroutinesAfter > st.goroutinesBefore+20 {
		t.Errorf("goroutines grew from %d to %d over the failover", st.goroutinesBefore, st.goroutinesAfter)
	}
	if st.readyFalse == 0 || st.readyBack == 0 {
		t.Errorf("/readyz did not turn false and back during the failover (503 after %s, 200 after %s)", st.readyFalse, st.readyBack)
	}
	if st.acked == 0 {
		t.Fatal("no write was acknowledged")
	}
	return st
}

// walkKeys walks a collection through the API (1000 a page) and returns its
// keys. A walk that a failover interrupted starts again.
func walkKeys(t *testing.T, p *proc, coll string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	cursor := ""
	for range 10_000 {
		status, body := p.do(t, "GET", "/api/v1/"+coll+"?limit=1000&cursor="+url.QueryEscape(cursor), "")
		if status != 200 {
			t.Fatalf("walk of %s: %d %s", coll, status, body)
		}
		var page struct {
			Items []struct {
				Key string `json:"key"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			keys[it.Key] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			return keys
		}
	}
	t.Fatal("the walk does not end")
	return nil
}

// TestRedisCluster: navius on a Redis Cluster serves the API, reports each
// master in /health, keeps two instances' local caches honest across a
// failover, and rides out a master's SIGKILL under write load, with and
// without redis.min_replicas.
func TestRedisCluster(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	cl := redistest.StartCluster(t)

	t.Run("Serve", func(t *testing.T) {
		p := serve(t, bin, t.TempDir(), haEnv(cl.URL()))
		exercise(t, p)
		_, body := p.do(t, "GET", "/health", "")
		var h struct {
			Components map[string]struct {
				Status  string         `json:"status"`
				Details map[string]any `json:"details"`
			} `json:"components"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatal(err)
		}
		c := h.Components["redis_cluster"]
		masters, _ := c.Details["masters"].(map[string]any)
		if c.Status != "UP" || c.Details["cluster_state"] != "ok" || len(masters) != 3 {
			t.Fatalf("/health redis_cluster = %+v", c)
		}
		_ = p.stop(t)
	})

	t.Run("TwoInstancesAcrossFailover", func(t *testing.T) {
		env := haEnv(cl.URL(), "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h")
		a := serve(t, bin, t.TempDir(), env)
		b := serve(t, bin, t.TempDir(), env)
		rounds := func(label string) {
			var worst time.Duration
			for i := range 10 {
				v := fmt.Sprintf("%s-%d", label, i)
				writer, reader := a, b
				if i%2 == 1 {
					writer, reader = b, a
				}
				if status, body := writer.do(t, "PUT", "/api/v1/shared/k", v); status != 204 {
					t.Fatalf("PUT = %d %s", status, body)
				}
				start := time.Now()
				for {
					status, got := reader.do(t, "GET", "/api/v1/shared/k", "")
					if status == 200 && got == v {
						break
					}
					if time.Since(start) > 2*time.Second {
						t.Fatalf("%s round %d: the other instance still serves %d %q for %q", label, i, status, got, v)
					}
					time.Sleep(time.Millisecond)
				}
				worst = max(worst, time.Since(start))
			}
			t.Logf("%s: worst time for a write to reach the other instance: %s", label, worst)
		}
		waitLive := func() {
			deadline := time.Now().Add(15 * time.Second)
			for _, p := range []*proc{a, b} {
				for live, _ := feedLive(t, p); !live; live, _ = feedLive(t, p) {
					if time.Now().After(deadline) {
						t.Fatal("change subscription not live")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
		waitLive()
		rounds("before")
		// The master of the change channel's slot: both subscriptions move.
		m := cl.MasterOf("navius:changes")
		killed := time.Now()
		cl.Kill(m)
		cl.WaitFailover(m, killed)
		waitLive()
		t.Logf("both subscriptions live again %s after the kill", time.Since(killed))
		rounds("after")
		cl.Rejoin(m)
		_ = a.stop(t)
		_ = b.stop(t)
	})

	t.Run("FailoverUnderLoad", func(t *testing.T) {
		p := serve(t, bin, t.TempDir(), haEnv(cl.URL()))
		var m *redistest.Server
		var killed time.Time
		var promoted time.Duration
		st := failoverUnderLoad(t, p, "load", func() {
			m = cl.Masters()[0]
			killed = time.Now()
			cl.Kill(m)
		}, func() { promoted = cl.WaitFailover(m, killed) })
		t.Logf("cluster, no WAIT (node timeout %s; replica promoted about %s after the kill): %s", redistest.NodeTimeout, promoted, st)
		_ = p.stop(t)
		cl.Rejoin(m)
	})

	// One shard's failover stays partial: with the default readiness the
	// instance stays ready and serves the keys of the other shards, while
	// those of the failed one answer 503 with Retry-After; with
	// redis.cluster_readiness=all it turns unready. The answers during the
	// failover are counted and reported for both.
	t.Run("ShardFailoverStaysPartial", func(t *testing.T) {
		for _, mode := range []string{"any", "all"} {
			p := serve(t, bin, t.TempDir(), haEnv(cl.URL(), "NAVIUS_CACHE_URL=none", "NAVIUS_REDIS_CLUSTER_READINESS="+mode))
			const keys = 64 // a collection's keys fall in 64 buckets, over every master
			for i := range keys {
				if status, body := p.do(t, "PUT", fmt.Sprintf("/api/v1/shards/k%02d", i), "v"); status != 204 {
					t.Fatalf("PUT = %d %s", status, body)
				}
			}
			waitStatus(t, p, "/readyz", 200, 10*time.Second)
			m := cl.Masters()[2]
			killed := time.Now()
			cl.Kill(m)
			done := make(chan time.Duration, 1)
			go func() { done <- cl.WaitFailover(m, killed) }()
			var ok, unavailable, retryAfter, readyOK, readyNot int
			var promoted time.Duration
		poll:
			for i := 0; ; i++ {
				select {
				case promoted = <-done:
					break poll
				default:
				}
				if i > 100_000 {
					t.Fatal("the failover does not end")
				}
				if status, _ := p.do(t, "GET", "/readyz", ""); status == 200 {
					readyOK++
				} else {
					readyNot++
				}
				resp, err := http.Get(fmt.Sprintf("%s/api/v1/shards/k%02d", p.URL, i%keys))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok++
				case 503:
					unavailable++
					if resp.Header.Get("Retry-After") != "" {
						retryAfter++
					}
				default:
					t.Fatalf("GET during the failover: %d", resp.StatusCode)
				}
			}
			t.Logf("readiness %s: during the failover (replica promoted %s after the kill) %d GETs answered 200 and %d answered 503 (%d with Retry-After); /readyz was 200 %d times, 503 %d times",
				mode, promoted, ok, unavailable, retryAfter, readyOK, readyNot)
			if unavailable == 0 || retryAfter != unavailable {
				t.Errorf("readiness %s: %d of %d 503s carried Retry-After; want every one, and some 503s for the failed shard", mode, retryAfter, unavailable)
			}
			if ok == 0 {
				t.Errorf("readiness %s: no key of the other shards was served during the failover", mode)
			}
			switch {
			case mode == "any" && readyNot > 0:
				t.Errorf("readiness any: /readyz answered 503 %d times while only one shard was failing", readyNot)
			case mode == "all" && readyNot == 0:
				t.Errorf("readiness all: /readyz stayed 200 while a master was down")
			}
			cl.Rejoin(m)
			_ = p.stop(t)
		}
	})

	// With redis.min_replicas=1 every acknowledged write survives. The
	// promoted replica has no replica of its own until the killed node
	// rejoins, so writes to its slots answer 503 until then.
	t.Run("FailoverUnderLoadMinReplicas", func(t *testing.T) {
		p := serve(t, bin, t.TempDir(), haEnv(cl.URL(), "NAVIUS_REDIS_MIN_REPLICAS=1"))
		var m *redistest.Server
		st := failoverUnderLoad(t, p, "durable", func() {
			m = cl.Masters()[1]
			cl.Kill(m)
		}, func() {
			cl.WaitFailover(m, time.Now())
			cl.Rejoin(m)
		})
		t.Logf("cluster, redis.min_replicas=1 (writes to the killed master's slots wait for it to rejoin as a replica): %s", st)
		if st.lost != 0 {
			t.Errorf("%d writes acknowledged with redis.min_replicas=1 were lost", st.lost)
		}
		_ = p.stop(t)
	})
}

// TestRedisSentinel: navius on Sentinel refuses a master name the sentinels
// do not know, serves the API, and rides out the master's SIGKILL under
// write load, with and without redis.min_replicas.
func TestRedisSentinel(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	st := redistest.StartSentinel(t)

	t.Run("UnknownMaster", func(t *testing.T) {
		bad := strings.Replace(st.URL(0), "master="+redistest.MasterName, "master=typo", 1)
		code, _, stderr := run(t, bin, []string{"NAVIUS_DATABASE_URL=" + bad}, "serve", "--listen", "127.0.0.1:0")
		if code != 2 || !strings.Contains(stderr, `does not know master "typo"`) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Fatalf("exit %d, stderr %q; want 2 and one line naming the master", code, stderr)
		}
	})

	t.Run("Serve", func(t *testing.T) {
		p := serve(t, bin, t.TempDir(), haEnv(st.URL(0)))
		exercise(t, p)
		if _, body := p.do(t, "GET", "/health", ""); !strings.Contains(body, `"master":"`+st.Master().Addr+`"`) {
			t.Fatalf("/health does not name the master %s: %s", st.Master().Addr, body)
		}
		_ = p.stop(t)
	})

	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"FailoverUnderLoad", nil},
		{"FailoverUnderLoadMinReplicas", []string{"NAVIUS_REDIS_MIN_REPLICAS=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serve(t, bin, t.TempDir(), haEnv(st.URL(0), tc.env...))
			var old *redistest.Server
			var killed time.Time
			var promoted time.Duration
			stats := failoverUnderLoad(t, p, "load", func() {
				old = st.Master()
				killed = time.Now()
				old.Stop()
			}, func() { promoted = st.WaitFailover(old, killed) })
			t.Logf("Sentinel, %v (down-after %s; new master named about %s after the kill): %s", tc.env, redistest.DownAfter, promoted, stats)
			if tc.env != nil && stats.lost != 0 {
				t.Errorf("%d writes acknowledged with redis.min_replicas=1 were lost", stats.lost)
			}
			_ = p.stop(t)
			st.Rejoin(old)
		})
	}
}

// TestRedisTopologyBadInput: every malformed multi-host URL, and a cluster
// URL naming a node without cluster support, stop navius with exit code 2
// and one line that names the problem and the fix, without the password.
func TestRedisTopologyBadInput(t *testing.T) {
	bin, _ := binary(t, "default,redis")
	srv := redistest.Start(t)
	for _, c := range []struct{ url, says string }{
		{"redis+cluster://:s3cret@", "no host: list at least one"},
		{"redis+cluster://:s3cret@a:6379,,b:6379", "an empty host in the list"},
		{"redis+cluster://:s3cret@a:6379,b:70000", `host "b:70000" has an invalid port`},
		{"redis+cluster://:s3cret@a:6379,b:6379/0", "a cluster URL takes no database number"},
		{"redis+cluster://:s3cret@a:6379?master=m", "master= belongs to redis+sentinel"},
		{"redis+sentinel://:s3cret@a:26379,b:26379/0", "no master name: add ?master=NAME"},
		{"redis+sentinel://:s3cret@a:26379/zero?master=m", `database "zero" is not a number`},
		{"redis+sentinel://:s3cret@a:26379?master=m&pool=3", `unknown parameter "pool"`},
		{"redis+cluster://:s3cret@" + srv.Addr, "is not a cluster node"},
		{"redis+sentinel://:s3cret@" + srv.Addr + "?master=m", "is not a sentinel"},
	} {
		code, _, stderr := run(t, bin, []string{"NAVIUS_DATABASE_URL=" + c.url}, "serve", "--listen", "127.0.0.1:0")
		line := strings.TrimSpace(stderr)
		if code != 2 || !strings.Contains(line, c.says) || strings.Contains(line, "\n") || strings.Contains(line, "s3cret") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line saying %q, without the password", c.url, code, stderr, c.says)
		}
	}
}
