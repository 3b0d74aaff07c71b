package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/providers/memory"
)

// newVersioned serves the memory database itself, which has every
// capability (newFixture's switchDB hides them).
func newVersioned(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, memory.NewDatabase())
}

func etagOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	e := resp.Header.Get("ETag")
	if len(e) < 3 || e[0] != '"' || e[len(e)-1] != '"' || strings.HasPrefix(e, "W/") {
		t.Fatalf("%s %s: ETag %q, want a strong quoted ETag", resp.Request.Method, resp.Request.URL.Path, e)
	}
	return e
}

func TestETags(t *testing.T) {
	f := newVersioned(t)
	resp, body := f.do(t, "PUT", "/api/v1/pets/tom", "cat")
	wantStatus(t, resp, body, http.StatusNoContent)
	e1 := etagOf(t, resp)

	resp, body = f.do(t, "GET", "/api/v1/pets/tom", "")
	wantStatus(t, resp, body, http.StatusOK)
	if got := etagOf(t, resp); got != e1 || body != "cat" {
		t.Fatalf("GET = %q with ETag %s, want cat with %s", body, got, e1)
	}
	resp, body = f.do(t, "GET", "/api/v1/pets/tom", "") // a cache hit gives the database's ETag
	if got := etagOf(t, resp); got != e1 {
		t.Fatalf("cached GET ETag %s, want %s", got, e1)
	}
	resp, body = f.do(t, "HEAD", "/api/v1/pets/tom", "")
	wantStatus(t, resp, body, http.StatusOK)
	if got := etagOf(t, resp); got != e1 || body != "" {
		t.Fatalf("HEAD: ETag %s body %q", got, body)
	}

	resp, _ = f.do(t, "PUT", "/api/v1/pets/tom", "old cat")
	e2 := etagOf(t, resp)
	if e2 == e1 {
		t.Fatal("a write kept the ETag")
	}
	resp, body = f.do(t, "GET", "/api/v1/pets/tom", "")
	if got := etagOf(t, resp); got != e2 || body != "old cat" {
		t.Fatalf("GET after a write = %q %s, want old cat %s", body, got, e2)
	}
	resp, body = f.do(t, "GET", "/api/v1/pets", "")
	wantStatus(t, resp, body, http.StatusOK)
	var page struct {
		Items []struct{ Key, Value, ETag string }
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Items) != 1 || page.Items[0].ETag != e2 {
		t.Fatalf("list = %s, want tom with etag %s", body, e2)
	}
}

func TestIfMatch(t *testing.T) {
	f := newVersioned(t)
	resp, _ := f.do(t, "PUT", "/api/v1/c/k", "v1")
	e1 := etagOf(t, resp)
	f.do(t, "GET", "/api/v1/c/k", "") // fill the cache

	resp, body := f.do(t, "PUT", "/api/v1/c/k", "v2", "If-Match", e1)
	wantStatus(t, resp, body, http.StatusNoContent)
	e2 := etagOf(t, resp)

	resp, body = f.do(t, "PUT", "/api/v1/c/k", "lost", "If-Match", e1)
	wantError(t, resp, body, http.StatusPreconditionFailed, "precondition_failed")
	if got := resp.Header.Get("ETag"); got != e2 || !strings.Contains(messageOf(t, body), e2) {
		t.Fatalf("412: ETag %q, body %s; want the current ETag %s in both", got, body, e2)
	}
	if resp, body := f.do(t, "GET", "/api/v1/c/k", ""); body != "v2" || etagOf(t, resp) != e2 {
		t.Fatalf("after a failed If-Match: %q", body)
	}

	// A list matches when any member does; weak ETags never match a write.
	resp, body = f.do(t, "PUT", "/api/v1/c/k", "v3", "If-Match", `"nope", `+e2+`, "other"`)
	wantStatus(t, resp, body, http.StatusNoContent)
	e3 := etagOf(t, resp)
	resp, body = f.do(t, "PUT", "/api/v1/c/k", "lost", "If-Match", "W/"+e3)
	wantError(t, resp, body, http.StatusPreconditionFailed, "precondition_failed")

	// If-Match: * needs an existing key.
	resp, body = f.do(t, "PUT", "/api/v1/c/absent", "x", "If-Match", "*")
	wantError(t, resp, body, http.StatusPreconditionFailed, "precondition_failed")
	if resp.Header.Get("ETag") != "" {
		t.Fatalf("412 for a missing key carries ETag %q", resp.Header.Get("ETag"))
	}
	if resp, body := f.do(t, "GET", "/api/v1/c/absent", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a failed If-Match created the key: %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "PUT", "/api/v1/c/k", "v4", "If-Match", "*")
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestIfNoneMatchCreatesOnly(t *testing.T) {
	f := newVersioned(t)
	resp, body := f.do(t, "PUT", "/api/v1/c/k", "first", "If-None-Match", "*")
	wantStatus(t, resp, body, http.StatusNoContent)
	e := etagOf(t, resp)
	resp, body = f.do(t, "PUT", "/api/v1/c/k", "second", "If-None-Match", "*")
	wantError(t, resp, body, http.StatusPreconditionFailed, "precondition_failed")
	if resp.Header.Get("ETag") != e || !strings.Contains(body, "creates only") {
		t.Fatalf("412: ETag %q body %s", resp.Header.Get("ETag"), body)
	}
	if _, body := f.do(t, "GET", "/api/v1/c/k", ""); body != "first" {
		t.Fatalf("value %q, want first", body)
	}
}

func TestConditionalDelete(t *testing.T) {
	f := newVersioned(t)
	resp, _ := f.do(t, "PUT", "/api/v1/c/k", "v1")
	e1 := etagOf(t, resp)
	resp, _ = f.do(t, "PUT", "/api/v1/c/k", "v2")
	e2 := etagOf(t, resp)
	resp, body := f.do(t, "DELETE", "/api/v1/c/k", "", "If-Match", e1)
	wantError(t, resp, body, http.StatusPreconditionFailed, "precondition_failed")
	if resp.Header.Get("ETag") != e2 {
		t.Fatalf("412 ETag %q, want %s", resp.Header.Get("ETag"), e2)
	}
	resp, body = f.do(t, "DELETE", "/api/v1/c/k", "", "If-Match", e2)
	wantStatus(t, resp, body, http.StatusNoContent)
	// RFC 9110 13.2.1: a DELETE of nothing is 404 whatever its preconditions.
	resp, body = f.do(t, "DELETE", "/api/v1/c/k", "", "If-Match", e2)
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	resp, body = f.do(t, "DELETE", "/api/v1/c/k?ttl=1s", "")
	wantError(t, resp, body, http.StatusBadRequest, "invalid_ttl")
}

func TestConditionalGet(t *testing.T) {
	f := newVersioned(t)
	resp, _ := f.do(t, "PUT", "/api/v1/c/k", "v")
	e := etagOf(t, resp)
	for _, inm := range []string{e, "W/" + e, `"other", ` + e, "*"} {
		resp, body := f.do(t, "GET", "/api/v1/c/k", "", "If-None-Match", inm)
		if resp.StatusCode != http.StatusNotModified || body != "" || resp.Header.Get("ETag") != e {
			t.Fatalf("GET If-None-Match %s = %d %q ETag %q; want 304, no body, the ETag", inm, resp.StatusCode, body, resp.Header.Get("ETag"))
		}
	}
	resp, body := f.do(t, "GET", "/api/v1/c/k", "", "If-None-Match", `"other"`)
	if resp.StatusCode != http.StatusOK || body != "v" {
		t.Fatalf("GET If-None-Match other = %d %q", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/api/v1/c/k", "", "If-Match", `"other"`)
	wantError(t, resp, body, http.StatusPreconditionFailed, "precondition_failed")
	resp, body = f.do(t, "GET", "/api/v1/c/k", "", "If-Match", e)
	if resp.StatusCode != http.StatusOK || body != "v" {
		t.Fatalf("GET If-Match current = %d %q", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/api/v1/c/missing", "", "If-Match", e)
	wantError(t, resp, body, http.StatusNotFound, "not_found")
}

func TestBadPreconditions(t *testing.T) {
	f := newVersioned(t)
	for _, h := range [][2]string{
		{"If-Match", "abc"},
		{"If-Match", `"abc`},
		{"If-Match", `*, "abc"`},
		{"If-Match", `"a" "b"`},
		{"If-Match", `"a b"`},
		{"If-Match", ` , `},
		{"If-Match", `W/abc`},
		{"If-None-Match", `"abc"`},
	} {
		resp, body := f.do(t, "PUT", "/api/v1/c/k", "v", h[0], h[1])
		wantError(t, resp, body, http.StatusBadRequest, "invalid_precondition")
	}
	req, _ := http.NewRequest("PUT", f.URL+"/api/v1/c/k", strings.NewReader("v"))
	req.Header.Set("If-Match", "*")
	req.Header.Set("If-None-Match", "*")
	resp, err := f.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("If-Match with If-None-Match = %d, want 400", resp.StatusCode)
	}
	if resp, body := f.do(t, "GET", "/api/v1/c/k", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a refused write was stored: %d %s", resp.StatusCode, body)
	}
}

func TestTTL(t *testing.T) {
	f := newVersioned(t)
	for _, ttl := range []string{"abc", "-1s", "0", "0s", "2h", "1", ""} {
		resp, body := f.do(t, "PUT", "/api/v1/c/k?ttl="+ttl, "v")
		wantError(t, resp, body, http.StatusBadRequest, "invalid_ttl")
	}
	if resp, _ := f.do(t, "GET", "/api/v1/c/k", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatal("a refused TTL write was stored")
	}
	resp, body := f.do(t, "PUT", "/api/v1/c/k?ttl=300ms", "brief")
	wantStatus(t, resp, body, http.StatusNoContent)
	if resp, body := f.do(t, "GET", "/api/v1/c/k", ""); resp.StatusCode != http.StatusOK || body != "brief" {
		t.Fatalf("GET before expiry = %d %q", resp.StatusCode, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := f.do(t, "GET", "/api/v1/c/k", "")
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry (and its cached copy) outlived its TTL by seconds")
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, body = f.do(t, "PUT", "/api/v1/c/k", "again", "If-None-Match", "*")
	wantStatus(t, resp, body, http.StatusNoContent)
}

func TestBatch(t *testing.T) {
	f := newVersioned(t)
	resp, _ := f.do(t, "PUT", "/api/v1/a/x", "old x")
	ex := etagOf(t, resp)
	f.do(t, "PUT", "/api/v1/b/gone", "bye")

	resp, body := f.do(t, "POST", "/api/v1/_batch", `{"operations":[
		{"op":"put","collection":"a","key":"x","value":"new x","if_match":`+jsonString(ex)+`},
		{"op":"put","collection":"a","key":"bin","value_base64":"AP8="},
		{"op":"put","collection":"b","key":"new","value":"n","if_none_match":"*","ttl":"1h"},
		{"op":"delete","collection":"b","key":"gone"},
		{"op":"delete","collection":"b","key":"never"}]}`)
	wantStatus(t, resp, body, http.StatusOK)
	var out struct {
		Results []struct {
			ETag    string `json:"etag"`
			Deleted *bool  `json:"deleted"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Results) != 5 {
		t.Fatalf("batch answer %s", body)
	}
	r := out.Results
	if r[0].ETag == "" || r[0].ETag == ex || r[1].ETag == "" || r[2].ETag == "" || r[3].Deleted == nil || !*r[3].Deleted || r[4].Deleted == nil || *r[4].Deleted {
		t.Fatalf("batch results %s", body)
	}
	if resp, body := f.do(t, "GET", "/api/v1/a/x", ""); body != "new x" || resp.Header.Get("ETag") != r[0].ETag {
		t.Fatalf("a/x after the batch = %q %s, want new x %s", body, resp.Header.Get("ETag"), r[0].ETag)
	}
	if _, body := f.do(t, "GET", "/api/v1/a/bin", ""); body != "\x00\xff" {
		t.Fatalf("a/bin = %q", body)
	}

	// A failing condition names its operation; nothing is written. A bare
	// version (no quotes) is read as one ETag.
	bare := strings.Trim(r[0].ETag, `"`)
	resp, body = f.do(t, "POST", "/api/v1/_batch", `{"operations":[
		{"op":"put","collection":"a","key":"x","value":"lost","if_match":"`+bare+`"},
		{"op":"put","collection":"a","key":"fresh","value":"lost"},
		{"op":"delete","collection":"b","key":"new","if_match":`+jsonString(ex)+`}]}`)
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	var be batchError
	if err := json.Unmarshal([]byte(body), &be); err != nil || be.Error.Operation != 2 || be.Error.Code != "precondition_failed" || !strings.Contains(be.Error.Message, "operation 2 (delete b/new)") {
		t.Fatalf("412 body %s: want operation 2 named", body)
	}
	if _, body := f.do(t, "GET", "/api/v1/a/x", ""); body != "new x" {
		t.Fatalf("a failed batch wrote a/x: %q", body)
	}
	if resp, _ := f.do(t, "GET", "/api/v1/a/fresh", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatal("a failed batch wrote a/fresh")
	}

	resp, body = f.do(t, "GET", "/api/v1/_batch", "")
	wantError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
	if resp.Header.Get("Allow") != "POST" {
		t.Fatalf("Allow: %q", resp.Header.Get("Allow"))
	}
}

func messageOf(t *testing.T, body string) string {
	t.Helper()
	var e apiError
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e.Error.Message
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBadBatches(t *testing.T) {
	f := newVersioned(t)
	put := func(k string) string { return `{"op":"put","collection":"c","key":"` + k + `","value":"v"}` }
	many := make([]string, 9)
	for i := range many {
		many[i] = put("k" + string(rune('a'+i)))
	}
	for _, c := range []struct {
		body   string
		status int
		code   string
		says   string
	}{
		{`not json`, 400, "invalid_batch", "not valid JSON"},
		{`{"operations":[]}`, 400, "invalid_batch", "no operations"},
		{`{}`, 400, "invalid_batch", "no operations"},
		{`{"operations":[` + put("a") + `]} {}`, 400, "invalid_batch", "after its JSON object"},
		{`{"operations":[` + put("a") + `],"extra":1}`, 400, "invalid_batch", "extra"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"v","ifmatch":"x"}]}`, 400, "invalid_batch", "ifmatch"},
		{`{"operations":[` + put("a") + `,` + put("a") + `]}`, 400, "invalid_batch", "operations 0 and 1 both write c/a"},
		{`{"operations":[{"op":"upsert","collection":"c","key":"a"}]}`, 400, "invalid_batch", "unknown"},
		{`{"operations":[{"collection":"c","key":"a"}]}`, 400, "invalid_batch", "op is missing"},
		{`{"operations":[{"op":"put","collection":"_c","key":"a","value":"v"}]}`, 400, "invalid_batch", "collection"},
		{`{"operations":[{"op":"put","collection":"c","key":"a b","value":"v"}]}`, 400, "invalid_batch", "key"},
		{`{"operations":[{"op":"put","collection":"c","key":"a"}]}`, 400, "invalid_batch", "value"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"v","value_base64":"AA=="}]}`, 400, "invalid_batch", "both"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value_base64":"!!"}]}`, 400, "invalid_batch", "JSON"},
		{`{"operations":[{"op":"delete","collection":"c","key":"a","value":"v"}]}`, 400, "invalid_batch", "no value"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"v","ttl":"-5s"}]}`, 400, "invalid_batch", "not positive"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"v","ttl":"2h"}]}`, 400, "invalid_batch", "maximum"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"v","if_match":"*","if_none_match":"*"}]}`, 400, "invalid_batch", "if_match and if_none_match"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"v","if_match":"\"unclosed"}]}`, 400, "invalid_batch", "if_match"},
		{`{"operations":[` + strings.Join(many, ",") + `]}`, 413, "payload_too_large", "server.max_batch_operations"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"` + strings.Repeat("x", 2000) + `"}]}`, 413, "payload_too_large", "server.max_body_bytes"},
		{`{"operations":[{"op":"put","collection":"c","key":"a","value":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "payload_too_large", "server.max_batch_bytes"},
	} {
		resp, body := f.do(t, "POST", "/api/v1/_batch", c.body)
		wantError(t, resp, body, c.status, c.code)
		if !strings.Contains(body, c.says) {
			t.Errorf("batch %.60s: answer %s does not say %q", c.body, body, c.says)
		}
	}
	if _, body := f.do(t, "GET", "/api/v1/c", ""); !strings.Contains(body, `"items":[]`) {
		t.Fatalf("a refused batch wrote: %s", body)
	}
}

// Without the capabilities (a provider from before them), the new requests
// get 501 naming the missing one, and today's requests work as before.
func TestMissingCapabilities(t *testing.T) {
	f := newFixture(t) // switchDB: the Database contract alone
	resp, body := f.do(t, "PUT", "/api/v1/c/k", "v")
	wantStatus(t, resp, body, http.StatusNoContent)
	if resp.Header.Get("ETag") != "" {
		t.Fatalf("an unversioned provider's write got ETag %q", resp.Header.Get("ETag"))
	}
	if resp, body := f.do(t, "GET", "/api/v1/c/k", ""); body != "v" || resp.Header.Get("ETag") != "" {
		t.Fatalf("GET = %q ETag %q", body, resp.Header.Get("ETag"))
	}
	for _, c := range []struct{ method, path, body, header, value, capability string }{
		{"PUT", "/api/v1/c/k", "v2", "If-Match", `"x"`, `"conditional"`},
		{"PUT", "/api/v1/c/k", "v2", "If-None-Match", "*", `"conditional"`},
		{"DELETE", "/api/v1/c/k", "", "If-Match", "*", `"conditional"`},
		{"PUT", "/api/v1/c/k?ttl=1m", "v2", "", "", `"expiry"`},
		{"POST", "/api/v1/_batch", `{"operations":[{"op":"put","collection":"c","key":"k","value":"v2"}]}`, "", "", `"batch"`},
	} {
		var hdr []string
		if c.header != "" {
			hdr = []string{c.header, c.value}
		}
		resp, body := f.do(t, c.method, c.path, c.body, hdr...)
		wantError(t, resp, body, http.StatusNotImplemented, "not_implemented")
		if !strings.Contains(messageOf(t, body), c.capability) {
			t.Errorf("%s %s: %s does not name the capability %s", c.method, c.path, body, c.capability)
		}
	}
	if _, body := f.do(t, "GET", "/api/v1/c/k", ""); body != "v" {
		t.Fatalf("a 501 request wrote: %q", body)
	}
}

func FuzzBatch(f *testing.F) {
	for _, s := range []string{
		`{"operations":[{"op":"put","collection":"c","key":"k","value":"v","if_match":"\"a\", \"b\"","ttl":"30s"},{"op":"delete","collection":"d","key":"k","if_none_match":"*"}]}`,
		`{"operations":[{"op":"put","collection":"c","key":"k","value_base64":"AP8="}]}`,
		`{"operations":[{"op":"put","collection":"c","key":"k","value":"v","if_match":"W/\"x\""}]}`,
		`{"operations":null}`,
		`[]`,
	} {
		f.Add(s)
	}
	s := &Server{Deps: Deps{MaxBody: 1024, MaxTTL: time.Hour, MaxBatchOps: 16}}
	f.Fuzz(func(t *testing.T, body string) {
		ops, conds, status, err := s.parseBatch([]byte(body))
		if err != nil {
			if status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge {
				t.Fatalf("error %v with status %d", err, status)
			}
			return
		}
		if len(ops) == 0 || len(ops) > 16 || len(conds) != len(ops) {
			t.Fatalf("%d operations, %d conditions", len(ops), len(conds))
		}
		seen := map[string]bool{}
		for i, op := range ops {
			id := op.Collection + "/" + op.Key
			if seen[id] || !validCollection(op.Collection) || !validKey(op.Key) {
				t.Fatalf("operation %d writes %q: a duplicate or an invalid name got through", i, id)
			}
			seen[id] = true
			if op.TTL < 0 || op.TTL > time.Hour || (op.Delete && (op.TTL != 0 || op.Value != nil)) {
				t.Fatalf("operation %d: %+v", i, op)
			}
			if c := op.Condition; c.MustNotExist && (c.MustExist || len(c.Match) > 0) {
				t.Fatalf("operation %d has contradictory conditions %+v", i, c)
			}
		}
	})
}
