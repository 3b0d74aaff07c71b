package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/redistest"
	"github.com/navius-dev/navius/providers"
)

// Issue 19 on Redis, with real binaries on real redis-server topologies
// (one node, Sentinel, Cluster): data written by navius before versions,
// lost updates with If-Match across two instances, the same across a
// master's SIGKILL, expiry (across a restart, on list walks) and batches
// that a cluster cannot apply atomically. Today's navius runs with its
// in-process cache in front (its ETags must be the database's); the old
// one is built with redis alone, without a cache.

// redisVReply is an HTTP answer, read whole.
type redisVReply struct {
	status int
	header http.Header
	body   string
}

// redisVCall sends a request with the header fields in hdr (name, value,
// ...) and fails the test when it gets no answer.
func redisVCall(t *testing.T, method, url, body string, hdr ...string) redisVReply {
	t.Helper()
	status, header, b := harness.Request(t, method, url, body, hdr...)
	return redisVReply{status, header, b}
}

// redisVWant is redisVCall that fails unless the status is want.
func redisVWant(t *testing.T, want int, method, url, body string, hdr ...string) redisVReply {
	t.Helper()
	r := redisVCall(t, method, url, body, hdr...)
	if r.status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, url, r.status, r.body, want)
	}
	return r
}

// redisVItem is a list item; ETag is empty from navius before versions.
type redisVItem struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	ETag  string `json:"etag"`
}

// redisVWalk walks a collection in pages of limit and returns its items
// by key, failing on a key that comes twice.
func redisVWalk(t *testing.T, base, coll string, limit int) map[string]redisVItem {
	t.Helper()
	items := map[string]redisVItem{}
	cursor := ""
	for range 10_000 {
		r := redisVWant(t, 200, "GET", fmt.Sprintf("%s/api/v1/%s?limit=%d&cursor=%s", base, coll, limit, url.QueryEscape(cursor)), "")
		var page struct {
			Items      []redisVItem `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(r.body), &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if _, dup := items[it.Key]; dup {
				t.Fatalf("the walk of %s returned %s twice", coll, it.Key)
			}
			items[it.Key] = it
		}
		if cursor = page.NextCursor; cursor == "" {
			return items
		}
	}
	t.Fatal("the walk does not end")
	return nil
}

const redisVLegacyETag = `"` + providers.LegacyVersion + `"`

// redisVHash is the values hash that holds key of coll, in navius's
// layout (see providers/redis): one hash per collection, or in a cluster
// 64 buckets with a hash tag each, a key's bucket chosen by the FNV-1a hash
// of the key (of its own hash tag, when it has one).
func redisVHash(coll, key string, cluster bool) string {
	if !cluster {
		return "navius:db:" + coll
	}
	fnv32a := func(s string) uint32 { h := fnv.New32a(); h.Write([]byte(s)); return h.Sum32() }
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return fmt.Sprintf("navius:db:{%x.%d}%s", fnv32a(coll), fnv32a(key)%64, coll)
}

// redisVMigration: navius before versions writes; today's navius reads
// those entries with the legacy ETag, lists them with it, takes
// conditional writes on them and gives them versions; the old navius
// then still reads every value and lists exactly the collection's entries.
func redisVMigration(t *testing.T, dbURL string) {
	old := legacyBinary(t, "redis")
	bin, _ := binary(t, "default,redis")
	env := []string{"NAVIUS_DATABASE_URL=" + dbURL, "NAVIUS_LOG_ACCESS=false"}
	legacy := serve(t, old, t.TempDir(), append([]string{"NAVIUS_CACHE_URL=none"}, env...))
	for i := range 20 {
		redisVWant(t, 204, "PUT", fmt.Sprintf("%s/api/v1/legacy/k%02d", legacy.URL, i), fmt.Sprintf("old %d", i))
	}
	_ = legacy.Stop(t)

	p := serve(t, bin, t.TempDir(), env)
	base := p.URL + "/api/v1/legacy/"
	r := redisVWant(t, 200, "GET", base+"k00", "")
	if r.body != "old 0" || r.header.Get("ETag") != redisVLegacyETag {
		t.Fatalf("an old entry reads %q with ETag %q; want old 0 and %s", r.body, r.header.Get("ETag"), redisVLegacyETag)
	}
	for k, it := range redisVWalk(t, p.URL, "legacy", 7) {
		if it.ETag != redisVLegacyETag {
			t.Fatalf("list item %s has ETag %q, want %s", k, it.ETag, redisVLegacyETag)
		}
	}
	fresh := redisVWant(t, 204, "PUT", base+"k00", "new 0", "If-Match", redisVLegacyETag).header.Get("ETag")
	if fresh == "" || fresh == redisVLegacyETag {
		t.Fatalf("a conditional write on an old entry gave ETag %q", fresh)
	}
	redisVWant(t, 412, "PUT", base+"k00", "lost", "If-Match", redisVLegacyETag) // the old version is gone
	if r := redisVWant(t, 412, "PUT", base+"k01", "lost", "If-None-Match", "*"); r.header.Get("ETag") != redisVLegacyETag {
		t.Fatalf("412 on an old entry names ETag %q, want %s", r.header.Get("ETag"), redisVLegacyETag)
	}
	redisVWant(t, 204, "PUT", base+"k02", "new 2")
	redisVWant(t, 204, "DELETE", base+"k03", "", "If-Match", redisVLegacyETag)
	redisVWant(t, 204, "PUT", base+"k20?ttl=1h", "new 20", "If-None-Match", "*")
	if r := redisVWant(t, 200, "GET", base+"k00", ""); r.body != "new 0" || r.header.Get("ETag") != fresh {
		t.Fatalf("k00 = %q, ETag %q; want new 0, %s", r.body, r.header.Get("ETag"), fresh)
	}
	items := redisVWalk(t, p.URL, "legacy", 5)
	if len(items) != 20 || items["k00"].ETag != fresh || items["k01"].ETag != redisVLegacyETag || items["k02"].ETag == redisVLegacyETag {
		t.Fatalf("after the new writes the list holds %d items (want 20): %+v", len(items), items)
	}
	_ = p.Stop(t)

	// The old navius reads what the new one wrote, and its list shows the
	// entries and nothing else (versions live in other hashes).
	legacy = serve(t, old, t.TempDir(), append([]string{"NAVIUS_CACHE_URL=none"}, env...))
	for k, want := range map[string]string{"k00": "new 0", "k01": "old 1", "k02": "new 2", "k20": "new 20"} {
		if r := redisVWant(t, 200, "GET", legacy.URL+"/api/v1/legacy/"+k, ""); r.body != want {
			t.Fatalf("the old navius reads %s = %q, want %q", k, r.body, want)
		}
	}
	redisVWant(t, 404, "GET", legacy.URL+"/api/v1/legacy/k03", "")
	items = redisVWalk(t, legacy.URL, "legacy", 6)
	if len(items) != 20 {
		t.Fatalf("the old navius lists %d items, want 20: %+v", len(items), items)
	}
	for k, it := range items {
		if !strings.HasPrefix(k, "k") || !strings.HasPrefix(it.Value, "old ") && !strings.HasPrefix(it.Value, "new ") {
			t.Fatalf("the old navius lists %q = %q: not an entry", k, it.Value)
		}
	}
	_ = legacy.Stop(t)
}

// redisVLostUpdates: two instances, each with its local cache, 16 clients
// over both, 50 increments each with If-Match and a retry on 412: every
// acknowledged increment counts.
func redisVLostUpdates(t *testing.T, dbURL string) {
	bin, _ := binary(t, "default,redis")
	env := haEnv(dbURL, "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h")
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	for _, p := range []*proc{a, b} {
		waitLiveFeed(t, p)
	}
	r := casIncrements(t, []string{a.URL, b.URL}, "/api/v1/counters/cas", 16, 50, nil)
	wantNoLostUpdates(t, r, 16*50)
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// waitLiveFeed waits until an instance's change subscription is live, so
// that its cache hears the other instance's writes.
func waitLiveFeed(t *testing.T, p *proc) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for live, _ := feedLive(t, p); !live; live, _ = feedLive(t, p) {
		if time.Now().After(deadline) {
			t.Fatal("change subscription not live")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisVFailoverCAS runs the increments of redisVLostUpdates (more of them)
// while fail kills the master that holds the counter and waits for the
// topology to heal, with redis.min_replicas=1; clients retry failed
// requests too. No acknowledged increment may be lost; the counter may
// hold more (a write answered 503 may still have been applied). Expiry
// times written before the kill hold on the promoted replica.
func redisVFailoverCAS(t *testing.T, dbURL string, fail func()) {
	bin, _ := binary(t, "default,redis")
	env := haEnv(dbURL, "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h", "NAVIUS_REDIS_MIN_REPLICAS=1")
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	for _, p := range []*proc{a, b} {
		waitLiveFeed(t, p)
	}
	// Keys in the counter's bucket (its key as their hash tag), so on the
	// master that dies.
	const longKey, shortKey = "/api/v1/counters/%7Bfailover%7Dlong", "/api/v1/counters/%7Bfailover%7Dshort"
	long := redisVWant(t, 204, "PUT", a.URL+longKey+"?ttl=1h", "an hour").header.Get("ETag")
	written := time.Now() // before the PUT: the ttl runs from before its answer
	redisVWant(t, 204, "PUT", a.URL+shortKey+"?ttl=4s", "brief")
	var tolerate atomic.Bool
	healed := make(chan struct{})
	go func() {
		defer close(healed)
		time.Sleep(300 * time.Millisecond)
		tolerate.Store(true)
		fail()
	}()
	t.Cleanup(func() { <-healed }) // before the servers stop, should the test fail early
	const each = 150
	r := casIncrements(t, []string{a.URL, b.URL}, "/api/v1/counters/failover", 16, each, &tolerate)
	<-healed
	t.Log(r)
	if r.Acked != 16*each || int64(r.Final) < r.Acked {
		t.Fatalf("%d increments acknowledged (want %d), final value %d: %d acknowledged increments lost", r.Acked, 16*each, r.Final, r.Acked-int64(r.Final))
	}
	if r.Errors == 0 {
		t.Fatal("no request failed: the failover did not happen under the increments")
	}
	t.Logf("0 acknowledged increments lost; %d applied without an acknowledgement (answered 503, then read back by their client)", int64(r.Final)-r.Acked)
	if g := redisVWant(t, 200, "GET", b.URL+longKey, ""); g.header.Get("ETag") != long {
		t.Fatalf("after the failover the entry with a ttl of 1h has ETag %q, want %q", g.header.Get("ETag"), long)
	}
	for time.Since(written) < 15*time.Second && redisVCall(t, "GET", b.URL+shortKey, "").status != 404 {
		time.Sleep(50 * time.Millisecond)
	}
	if took := time.Since(written); took < 4*time.Second || redisVCall(t, "GET", a.URL+shortKey, "").status != 404 {
		t.Fatalf("the entry with a ttl of 4s went %s after it was written (want after 4s), or is still there", took)
	}
	_ = a.Stop(t)
	_ = b.Stop(t)
}

// redisVExpiry: entries with a ttl are there until their expiry, then gone
// for both instances at once (GET 404, absent from list walks, If-Match
// fails, If-None-Match: * creates); an expiry survives a restart of
// navius; the sweeper reclaims the storage, which raw (a client to the
// database) checks.
func redisVExpiry(t *testing.T, dbURL string, raw goredis.UniversalClient, cluster bool) {
	ctx := context.Background()
	bin, _ := binary(t, "default,redis")
	env := haEnv(dbURL, "NAVIUS_CACHE_URL=memory://", "NAVIUS_CACHE_DEFAULT_TTL=1h", "NAVIUS_DATABASE_SWEEP_INTERVAL=200ms")
	a := serve(t, bin, t.TempDir(), env)
	b := serve(t, bin, t.TempDir(), env)
	waitLiveFeed(t, b)
	base := func(p *proc) string { return p.URL + "/api/v1/exp/" }
	for i := range 30 {
		redisVWant(t, 204, "PUT", fmt.Sprintf("%sstay%02d", base(a), i), "stays")
	}
	written := time.Now() // before the PUT: the ttl runs from before its answer
	short := redisVWant(t, 204, "PUT", base(a)+"short?ttl=1500ms", "brief").header.Get("ETag")
	redisVWant(t, 204, "PUT", base(a)+"gone?ttl=1500ms", "brief")
	redisVWant(t, 204, "PUT", base(a)+"restart?ttl=6s", "a while")
	redisVWant(t, 204, "PUT", base(a)+"long?ttl=1h", "an hour")
	for _, p := range []*proc{a, b} { // both read them, and cache them
		if r := redisVWant(t, 200, "GET", base(p)+"short", ""); r.header.Get("ETag") != short {
			t.Fatalf("GET short: ETag %q, want %q", r.header.Get("ETag"), short)
		}
		if items := redisVWalk(t, p.URL, "exp", 4); len(items) != 34 {
			t.Fatalf("before expiry the walk finds %d entries, want 34", len(items))
		}
	}
	// Gone for both at once, the cached copies included.
	for _, p := range []*proc{a, b} {
		for time.Since(written) < 8*time.Second && redisVCall(t, "GET", base(p)+"short", "").status != 404 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	took := time.Since(written)
	if took < 1500*time.Millisecond || took > 8*time.Second {
		t.Fatalf("short went %s after it was written, with a ttl of 1.5s", took)
	}
	for _, p := range []*proc{a, b} {
		redisVWant(t, 404, "GET", base(p)+"gone", "")
		items := redisVWalk(t, p.URL, "exp", 3)
		if _, ok := items["short"]; ok || len(items) != 32 {
			t.Fatalf("after expiry the walk finds %d entries (short among them: %v), want 32", len(items), ok)
		}
	}
	redisVWant(t, 412, "PUT", base(b)+"short", "late", "If-Match", short)
	redisVWant(t, 404, "DELETE", base(b)+"short", "", "If-Match", "*") // RFC 9110: a DELETE of nothing
	redisVWant(t, 204, "PUT", base(b)+"short", "again", "If-None-Match", "*")
	if r := redisVWant(t, 200, "GET", base(a)+"short", ""); r.body != "again" || r.header.Get("ETag") == short {
		t.Fatalf("re-created short = %q ETag %q", r.body, r.header.Get("ETag"))
	}
	// The sweeper removes the expired value from Redis.
	hash := redisVHash("exp", "gone", cluster)
	for start := time.Now(); raw.HExists(ctx, hash, "gone").Val(); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the expired value of gone is still in %s 10s after it expired", hash)
		}
	}
	if !raw.HExists(ctx, redisVHash("exp", "long", cluster), "long").Val() {
		t.Fatal("the sweeper removed an entry that has not expired")
	}

	// Across a restart of navius.
	_ = a.Stop(t)
	_ = b.Stop(t)
	a = serve(t, bin, t.TempDir(), env)
	if time.Since(written) < 5*time.Second {
		redisVWant(t, 200, "GET", base(a)+"restart", "")
	}
	for time.Since(written) < 12*time.Second && redisVCall(t, "GET", base(a)+"restart", "").status != 404 {
		time.Sleep(50 * time.Millisecond)
	}
	redisVWant(t, 404, "GET", base(a)+"restart", "")
	if items := redisVWalk(t, a.URL, "exp", 1); len(items) != 32 {
		t.Fatalf("after the restart and expiry the walk finds %d entries, want 32", len(items))
	}
	redisVWant(t, 200, "GET", base(a)+"long", "")
	_ = a.Stop(t)
}

// TestRedisVersionsOneNode: migration, lost updates and expiry on one
// redis-server.
func TestRedisVersionsOneNode(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("Migration", func(t *testing.T) { redisVMigration(t, srv.URL(0)) })
	t.Run("LostUpdates", func(t *testing.T) { redisVLostUpdates(t, srv.URL(1)) })
	t.Run("Expiry", func(t *testing.T) { redisVExpiry(t, srv.URL(2), redisVClient(srv.Addr, 2), false) })
}

// redisVClient is a client to database db of one node.
func redisVClient(addr string, db int) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: addr, DB: db})
}

// TestRedisVersionsSentinel: lost updates and expiry with Sentinel, then
// the increments across a SIGKILL of the master.
func TestRedisVersionsSentinel(t *testing.T) {
	st := redistest.StartSentinel(t)
	t.Run("LostUpdates", func(t *testing.T) { redisVLostUpdates(t, st.URL(1)) })
	t.Run("Expiry", func(t *testing.T) {
		raw := redisVClient(st.Master().Addr, 2) // no failover until later
		defer raw.Close()
		redisVExpiry(t, st.URL(2), raw, false)
	})
	t.Run("FailoverIncrements", func(t *testing.T) {
		redisVFailoverCAS(t, st.URL(3), func() {
			old := st.Master()
			killed := time.Now()
			old.Stop() // SIGKILL
			t.Logf("the sentinels named a new master %s after the kill", st.WaitFailover(old, killed))
			st.Rejoin(old)
		})
	})
}

// TestRedisVersionsCluster: migration, lost updates, expiry and batches on
// a cluster, then the increments across a SIGKILL of the counter's master.
func TestRedisVersionsCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	raw := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{cl.Nodes[0].Addr}, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}}) // as the provider: auto mode races in go-redis
	defer raw.Close()
	t.Run("Migration", func(t *testing.T) { redisVMigration(t, cl.URL()) })
	t.Run("LostUpdates", func(t *testing.T) { redisVLostUpdates(t, cl.URL()) })
	t.Run("Expiry", func(t *testing.T) { redisVExpiry(t, cl.URL(), raw, true) })
	t.Run("Batches", func(t *testing.T) { redisVClusterBatches(t, cl.URL()) })
	t.Run("FailoverIncrements", func(t *testing.T) {
		redisVFailoverCAS(t, cl.URL(), func() {
			m := cl.MasterOf(redisVHash("counters", "failover", true))
			killed := time.Now()
			cl.Kill(m) // SIGKILL
			t.Logf("a replica took over after %s", cl.WaitFailover(m, killed))
			// The promoted replica has no replica of its own until the
			// killed node rejoins: writes to its slots answer 503 until then.
			cl.Rejoin(m)
		})
	})
}

// redisVClusterBatches: a batch whose keys are in several slots is a 422
// that explains the rule, with nothing written; keys with one hash tag
// share a batch.
func redisVClusterBatches(t *testing.T, dbURL string) {
	bin, _ := binary(t, "default,redis")
	p := serve(t, bin, t.TempDir(), haEnv(dbURL))
	batch := func(ops ...string) redisVReply {
		return redisVCall(t, "POST", p.URL+"/api/v1/_batch", `{"operations":[`+strings.Join(ops, ",")+`]}`)
	}
	put := func(coll, key, value string) string {
		return fmt.Sprintf(`{"op":"put","collection":%q,"key":%q,"value":%q}`, coll, key, value)
	}
	for _, c := range []struct {
		name string
		ops  []string
		keys [][2]string
		says string
	}{
		{"slots", []string{put("orders", "a", "1"), put("orders", "b", "2"), put("orders", "c", "3")},
			[][2]string{{"orders", "a"}, {"orders", "b"}, {"orders", "c"}}, "one hash tag"},
		{"collections", []string{put("orders", "{o7}head", "1"), put("stock", "{o7}sku", "2")},
			[][2]string{{"orders", "{o7}head"}, {"stock", "{o7}sku"}}, "across collections"},
	} {
		r := batch(c.ops...)
		if r.status != 422 || !strings.Contains(r.body, `"code":"not_atomic"`) || !strings.Contains(r.body, "one hash slot") ||
			!strings.Contains(r.body, c.says) || !strings.Contains(r.body, "nothing was written") {
			t.Fatalf("%s: a batch across slots = %d %s; want 422 not_atomic explaining the rule (%q)", c.name, r.status, r.body, c.says)
		}
		for _, k := range c.keys {
			redisVWant(t, 404, "GET", p.URL+"/api/v1/"+k[0]+"/"+url.PathEscape(k[1]), "")
		}
	}
	r := redisVWant(t, 200, "POST", p.URL+"/api/v1/_batch", `{"operations":[`+put("orders", "{o42}head", "order")+","+
		put("orders", "{o42}line1", "item 1")+`,{"op":"put","collection":"orders","key":"{o42}line2","value":"item 2","ttl":"1h"}]}`)
	var res struct {
		Results []struct {
			ETag string `json:"etag"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || len(res.Results) != 3 {
		t.Fatalf("batch answer %s: %v", r.body, err)
	}
	for i, kv := range [][2]string{{"head", "order"}, {"line1", "item 1"}, {"line2", "item 2"}} {
		g := redisVWant(t, 200, "GET", p.URL+"/api/v1/orders/"+url.PathEscape("{o42}"+kv[0]), "")
		if g.body != kv[1] || g.header.Get("ETag") != res.Results[i].ETag {
			t.Fatalf("{o42}%s = %q ETag %q; want %q and the batch's ETag %q", kv[0], g.body, g.header.Get("ETag"), kv[1], res.Results[i].ETag)
		}
	}
	// A conditional batch on those keys fails whole.
	r = redisVCall(t, "POST", p.URL+"/api/v1/_batch", `{"operations":[`+put("orders", "{o42}line3", "item 3")+
		`,{"op":"delete","collection":"orders","key":"{o42}head","if_match":"\"0000000000000001\""}]}`)
	if r.status != 412 || !strings.Contains(r.body, `"operation":1`) {
		t.Fatalf("a batch with a failing condition = %d %s; want 412 naming operation 1", r.status, r.body)
	}
	redisVWant(t, 404, "GET", p.URL+"/api/v1/orders/"+url.PathEscape("{o42}line3"), "")
	_ = p.Stop(t)
}
