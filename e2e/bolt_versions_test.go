package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Issue 19 on the bolt engine, with real binaries on a real bbolt file:
// data written by navius before versions, lost updates, expiry across a
// restart, and batches across a SIGKILL. Today's navius runs as shipped
// (the default features: bolt with the in-process cache in front, whose
// ETags must be the database's); the old one is built with bolt alone, so
// it runs without a cache.

// boltBinary is today's navius as shipped, on bolt.
func boltBinary(t *testing.T) string {
	bin, _ := binary(t, "default")
	return bin
}

// legacyNoCache is the environment of the old navius built with bolt
// alone: no cache provider is compiled in.
var legacyNoCache = []string{"NAVIUS_CACHE_URL=none"}

// boltReply is an HTTP answer, read whole.
type boltReply struct {
	status int
	header http.Header
	body   []byte
}

// boltCall sends a request with the header fields in hdr (name, value, ...).
func boltCall(t *testing.T, c *http.Client, method, url string, body []byte, hdr ...string) boltReply {
	t.Helper()
	r, err := boltTryCall(c, method, url, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func boltTryCall(c *http.Client, method, url string, body []byte, hdr ...string) (boltReply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return boltReply{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return boltReply{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return boltReply{}, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	return boltReply{resp.StatusCode, resp.Header, b}, nil
}

// boltItem is an item of a list page; ETag is empty from navius before
// versions.
type boltItem struct {
	Key         string  `json:"key"`
	ETag        string  `json:"etag"`
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"value_base64"`
}

func (it boltItem) value() []byte {
	if it.Value != nil {
		return []byte(*it.Value)
	}
	return it.ValueBase64
}

// boltWalk lists a whole collection, limit items a page, and fails on a page
// that is not 200 or a boltWalk longer than 1,000 pages.
func boltWalk(t *testing.T, c *http.Client, base, coll string, limit int) map[string]boltItem {
	t.Helper()
	out := map[string]boltItem{}
	cursor := ""
	for range 1000 {
		r := boltCall(t, c, "GET", fmt.Sprintf("%s/api/v1/%s?limit=%d&cursor=%s", base, coll, limit, cursor), nil)
		if r.status != 200 {
			t.Fatalf("list %s: %d %s", coll, r.status, r.body)
		}
		var page struct {
			Items      []boltItem `json:"items"`
			NextCursor string     `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("list %s: %v in %s", coll, err, r.body)
		}
		for _, it := range page.Items {
			out[it.Key] = it
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
	t.Fatalf("list %s: more than 1,000 pages", coll)
	return nil
}

// boltWaitExpired polls a key until GET answers 404, for at most within.
func boltWaitExpired(t *testing.T, c *http.Client, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := boltCall(t, c, "GET", url, nil)
		if r.status == http.StatusNotFound {
			return
		}
		if r.status != 200 {
			t.Fatalf("GET %s while waiting for its expiry: %d %s", url, r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers 200 %s after its TTL", url, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const boltLegacyETag = `"` + providers.LegacyVersion + `"`

// TestBoltMigration: navius before versions writes a bolt file; today's
// navius reads, lists, updates and conditionally writes it; then the old
// navius opens the file again (a rollback) and today's navius the file
// the rollback wrote.
func TestBoltMigration(t *testing.T) {
	legacy := legacyBinary(t, "bolt")
	bin := boltBinary(t)
	dir := t.TempDir()
	c := http.DefaultClient
	key := func(p *proc, path string) string { return p.URL + "/api/v1/" + path }

	written := map[string][]byte{
		"things/plain":  []byte("alpha"),
		"things/binary": {0, 0xff, 0xfe, 0x80, '\n', 0},
		"things/empty":  {},
		"things/gone":   []byte("to be deleted"),
		"other/only":    []byte("the collection's one key"),
	}
	old := serve(t, legacy, dir, legacyNoCache, "--log-access=false")
	for path, v := range written {
		if r := boltCall(t, c, "PUT", key(old, path), v); r.status != http.StatusNoContent {
			t.Fatalf("old navius: PUT %s = %d %s", path, r.status, r.body)
		}
	}
	if err := old.Stop(t); err != nil {
		t.Fatalf("old navius: %v", err)
	}

	p := serve(t, bin, dir, nil, "--log-access=false")
	for path, v := range written {
		r := boltCall(t, c, "GET", key(p, path), nil)
		if r.status != 200 || !bytes.Equal(r.body, v) || r.header.Get("ETag") != boltLegacyETag {
			t.Fatalf("GET %s of the old file = %d %q ETag %q; want %q with ETag %s", path, r.status, r.body, r.header.Get("ETag"), v, boltLegacyETag)
		}
	}
	if r := boltCall(t, c, "HEAD", key(p, "things/binary"), nil); r.status != 200 || r.header.Get("ETag") != boltLegacyETag {
		t.Fatalf("HEAD things/binary = %d ETag %q", r.status, r.header.Get("ETag"))
	}
	items := boltWalk(t, c, p.URL, "things", 2)
	if len(items) != 4 {
		t.Fatalf("the list of things holds %d items, want 4: %v", len(items), items)
	}
	for k, it := range items {
		if it.ETag != boltLegacyETag || !bytes.Equal(it.value(), written["things/"+k]) {
			t.Fatalf("list item %s = %q ETag %q; want %q with ETag %s", k, it.value(), it.ETag, written["things/"+k], boltLegacyETag)
		}
	}

	// A conditional write with the ETag read succeeds once; the same ETag
	// is stale after it.
	r := boltCall(t, c, "PUT", key(p, "things/plain"), []byte("beta"), "If-Match", boltLegacyETag)
	etag := r.header.Get("ETag")
	if r.status != http.StatusNoContent || etag == "" || etag == boltLegacyETag {
		t.Fatalf("PUT If-Match %s = %d ETag %q %s; want 204 with a new ETag", boltLegacyETag, r.status, etag, r.body)
	}
	r = boltCall(t, c, "PUT", key(p, "things/plain"), []byte("lost"), "If-Match", boltLegacyETag)
	if r.status != http.StatusPreconditionFailed || r.header.Get("ETag") != etag {
		t.Fatalf("PUT with a stale ETag = %d ETag %q %s; want 412 with ETag %s", r.status, r.header.Get("ETag"), r.body, etag)
	}
	if r = boltCall(t, c, "PUT", key(p, "things/binary"), []byte("lost"), "If-None-Match", "*"); r.status != http.StatusPreconditionFailed {
		t.Fatalf("create-only PUT of an old key = %d %s, want 412", r.status, r.body)
	}
	if r = boltCall(t, c, "GET", key(p, "things/plain"), nil); string(r.body) != "beta" || r.header.Get("ETag") != etag {
		t.Fatalf("after the conditional writes: %q ETag %q; want beta with %s", r.body, r.header.Get("ETag"), etag)
	}
	if r = boltCall(t, c, "DELETE", key(p, "other/only"), nil, "If-Match", boltLegacyETag); r.status != http.StatusNoContent {
		t.Fatalf("DELETE If-Match of an old key = %d %s", r.status, r.body)
	}
	if r = boltCall(t, c, "DELETE", key(p, "things/gone"), nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE of an old key = %d %s", r.status, r.body)
	}
	if r = boltCall(t, c, "PUT", key(p, "things/brief?ttl=1s"), []byte("brief")); r.status != http.StatusNoContent {
		t.Fatalf("PUT ?ttl=1s = %d %s", r.status, r.body)
	}
	if r = boltCall(t, c, "PUT", key(p, "solo/one?ttl=1h"), []byte("alone")); r.status != http.StatusNoContent {
		t.Fatalf("PUT solo/one = %d %s", r.status, r.body)
	}
	if r = boltCall(t, c, "PUT", key(p, "things/lease?ttl=1h"), []byte("an hour")); r.status != http.StatusNoContent {
		t.Fatalf("PUT ?ttl=1h = %d %s", r.status, r.body)
	}
	boltWaitExpired(t, c, key(p, "things/brief"), 15*time.Second)
	if _, ok := boltWalk(t, c, p.URL, "things", 100)["brief"]; ok {
		t.Fatal("an expired entry is listed")
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}

	// The old navius on the file the new one wrote: values and lists as
	// they are (it knows nothing of expiry, so the hour-long lease is a
	// plain value to it).
	old = serve(t, legacy, dir, legacyNoCache, "--log-access=false")
	want := map[string][]byte{"plain": []byte("beta"), "binary": written["things/binary"], "empty": {}, "lease": []byte("an hour")}
	for k, v := range want {
		if r := boltCall(t, c, "GET", key(old, "things/"+k), nil); r.status != 200 || !bytes.Equal(r.body, v) {
			t.Fatalf("old navius on the new file: GET things/%s = %d %q, want %q", k, r.status, r.body, v)
		}
	}
	listed := boltWalk(t, c, old.URL, "things", 2)
	for k, v := range want {
		if !bytes.Equal(listed[k].value(), v) {
			t.Fatalf("old navius on the new file lists things/%s as %q, want %q (list: %v)", k, listed[k].value(), v, listed)
		}
	}
	_, brief := listed["brief"]
	t.Logf("old navius on the new file lists %d keys of things (the expired entry %s)", len(listed), map[bool]string{true: "not yet reclaimed: it shows again", false: "reclaimed"}[brief])
	for _, path := range []string{"other/only", "things/gone"} {
		if r := boltCall(t, c, "GET", key(old, path), nil); r.status != http.StatusNotFound {
			t.Fatalf("old navius: GET of the deleted %s = %d %q", path, r.status, r.body)
		}
	}
	// Writes of the rollback: the new navius must not apply its old
	// version or expiry to them.
	for path, v := range map[string]string{"things/plain": "rolled back", "things/lease": "for good"} {
		if r := boltCall(t, c, "PUT", key(old, path), []byte(v)); r.status != http.StatusNoContent {
			t.Fatalf("old navius: PUT %s = %d %s", path, r.status, r.body)
		}
	}
	for _, path := range []string{"things/binary", "solo/one"} { // solo/one is its collection's last key
		if r := boltCall(t, c, "DELETE", key(old, path), nil); r.status != http.StatusNoContent {
			t.Fatalf("old navius: DELETE %s = %d %s", path, r.status, r.body)
		}
	}
	if err := old.Stop(t); err != nil {
		t.Fatal(err)
	}

	p = serve(t, bin, dir, nil, "--log-access=false")
	for path, v := range map[string]string{"things/plain": "rolled back", "things/lease": "for good"} {
		r := boltCall(t, c, "GET", key(p, path), nil)
		if r.status != 200 || string(r.body) != v || r.header.Get("ETag") != boltLegacyETag {
			t.Fatalf("after the rollback: GET %s = %d %q ETag %q; want %q as an old entry (ETag %s)", path, r.status, r.body, r.header.Get("ETag"), v, boltLegacyETag)
		}
	}
	if r = boltCall(t, c, "PUT", key(p, "things/plain"), []byte("lost"), "If-Match", etag); r.status != http.StatusPreconditionFailed {
		t.Fatalf("PUT If-Match the ETag from before the rollback = %d %s, want 412", r.status, r.body)
	}
	if r = boltCall(t, c, "PUT", key(p, "things/binary"), []byte("again"), "If-None-Match", "*"); r.status != http.StatusNoContent {
		t.Fatalf("create-only PUT of the key the rollback deleted = %d %s", r.status, r.body)
	}
	if r = boltCall(t, c, "GET", key(p, "solo/one"), nil); r.status != http.StatusNotFound {
		t.Fatalf("GET of the key the rollback deleted with its collection = %d %q", r.status, r.body)
	}
	if items := boltWalk(t, c, p.URL, "solo", 10); len(items) != 0 {
		t.Fatalf("the collection the rollback emptied lists %v", items)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestBoltLostUpdates: 16 clients increment one counter 50 times each with
// If-Match and retries on one navius: no acknowledged increment is lost.
func TestBoltLostUpdates(t *testing.T) {
	p := serve(t, boltBinary(t), t.TempDir(), nil, "--log-access=false")
	r := casIncrements(t, []string{p.URL}, "/api/v1/cas/counter", 16, 50, nil)
	wantNoLostUpdates(t, r, 16*50)
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestBoltExpiry: TTL writes expire for GET and a list boltWalk, and across a
// restart; a long TTL survives the restart with its ETag.
func TestBoltExpiry(t *testing.T) {
	bin := boltBinary(t)
	dir := t.TempDir()
	c := http.DefaultClient
	p := serve(t, bin, dir, nil, "--log-access=false")
	put := func(path string) boltReply {
		t.Helper()
		r := boltCall(t, c, "PUT", p.URL+"/api/v1/exp/"+path, []byte(path))
		if r.status != http.StatusNoContent {
			t.Fatalf("PUT %s = %d %s", path, r.status, r.body)
		}
		return r
	}
	put("short?ttl=1s")
	put("kept")
	longETag := put("long?ttl=1h").header.Get("ETag")
	for i := range 5 { // enough for several pages of the boltWalk
		put(fmt.Sprintf("page%d", i))
	}
	boltWaitExpired(t, c, p.URL+"/api/v1/exp/short", 15*time.Second)
	if items := boltWalk(t, c, p.URL, "exp", 2); len(items) != 7 {
		t.Fatalf("after short expired, a boltWalk finds %d items, want 7: %v", len(items), items)
	} else if _, ok := items["short"]; ok {
		t.Fatal("a boltWalk lists the expired entry")
	}

	// Expiry is kept across a restart: ttl=5s outlives the restart on any
	// machine this runs on; if it did not, the case proves less, and says so.
	put("restart?ttl=5s")
	written := time.Now()
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
	p = serve(t, bin, dir, nil, "--log-access=false")
	if r := boltCall(t, c, "GET", p.URL+"/api/v1/exp/restart", nil); r.status == 200 {
		boltWaitExpired(t, c, p.URL+"/api/v1/exp/restart", 20*time.Second)
	} else {
		t.Logf("the restart took %s, longer than the TTL: GET answered %d already", time.Since(written), r.status)
	}
	items := boltWalk(t, c, p.URL, "exp", 3)
	for _, k := range []string{"short", "restart"} {
		if _, ok := items[k]; ok {
			t.Fatalf("after the restart a boltWalk lists the expired %s", k)
		}
	}
	if items["long"].ETag != longETag || string(items["long"].value()) != "long?ttl=1h" || len(items) != 7 {
		t.Fatalf("after the restart: %d items, long = %+v; want 7, long with ETag %s", len(items), items["long"], longETag)
	}
	if r := boltCall(t, c, "GET", p.URL+"/api/v1/exp/long", nil); r.status != 200 || r.header.Get("ETag") != longETag {
		t.Fatalf("GET long after the restart = %d ETag %q; want 200 with %s", r.status, r.header.Get("ETag"), longETag)
	}
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}

// TestBoltBatchKill: navius is killed with SIGKILL while clients POST
// batches; after the restart every batch is wholly present or wholly
// absent, and every acknowledged one is present. Each batch writes its id
// under batchKeys keys across two collections.
func TestBoltBatchKill(t *testing.T) {
	bin := boltBinary(t)
	dir := t.TempDir()
	const writers, batchKeys = 8, 6
	key := func(id string, j int) (coll, k string) {
		return []string{"kill-a", "kill-b"}[j%2], fmt.Sprintf("%s-%d", id, j)
	}
	var sent, acked []string
	for cycle := range 3 {
		p := serve(t, bin, dir, nil, "--log-access=false")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			writeUntil(ctx, writers, fmt.Sprintf("c%d", cycle), func(id string) *http.Request {
				var ops []string
				for j := range batchKeys {
					coll, k := key(id, j)
					ops = append(ops, fmt.Sprintf(`{"op":"put","collection":%q,"key":%q,"value":%q}`, coll, k, id))
				}
				req, _ := http.NewRequest("POST", p.URL+"/api/v1/_batch", strings.NewReader(`{"operations":[`+strings.Join(ops, ",")+`]}`))
				return req
			}, func(id string, status int) {
				sent = append(sent, id) // unanswered ones too: they may have reached navius before the kill
				if status == 200 {
					acked = append(acked, id)
				} else if status != 0 {
					t.Errorf("batch %s = %d", id, status)
				}
			})
		}()
		time.Sleep(time.Duration(200+rand.IntN(500)) * time.Millisecond)
		_ = p.Cmd.Process.Signal(syscall.SIGKILL)
		<-p.Done
		cancel()
		<-done
		t.Logf("cycle %d: %d batches sent, %d acknowledged before SIGKILL", cycle, len(sent), len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged before the kills")
	}

	p := serve(t, bin, dir, nil, "--log-access=false")
	stored := map[string]map[string]boltItem{}
	for _, coll := range []string{"kill-a", "kill-b"} {
		stored[coll] = boltWalk(t, http.DefaultClient, p.URL, coll, 1000)
	}
	present := map[string]bool{}
	whole, partial := 0, 0
	for _, id := range sent {
		n := 0
		for j := range batchKeys {
			coll, k := key(id, j)
			if it, ok := stored[coll][k]; ok {
				if string(it.value()) != id {
					t.Fatalf("%s/%s holds %q, want %q", coll, k, it.value(), id)
				}
				n++
			}
		}
		switch n {
		case batchKeys:
			whole++
			present[id] = true
		case 0:
		default:
			partial++
			t.Errorf("batch %s: %d of its %d keys are there", id, n, batchKeys)
		}
	}
	for _, id := range acked {
		if !present[id] {
			t.Errorf("acknowledged batch %s is not there", id)
		}
	}
	t.Logf("%d batches sent, %d acknowledged, %d wholly present, %d partly", len(sent), len(acked), whole, partial)
	if err := p.Stop(t); err != nil {
		t.Fatal(err)
	}
}
