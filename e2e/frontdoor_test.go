package e2e

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/navius-dev/navius/internal/harness"
	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/internal/redistest"
)

// TestCheckAgreesWithServe runs each configuration issue 20 found that
// config check accepted and serve refused (the providers' own rules, now
// each provider's registered check), and the new refusals of the front
// door, through both commands of a binary with every feature: each must
// exit 2 with the same one line.
func TestCheckAgreesWithServe(t *testing.T) {
	bin, _ := binary(t, "all")
	dir := t.TempDir()
	multiDoc := filepath.Join(dir, "two.yaml")
	os.WriteFile(multiDoc, []byte("log.level: debug\n---\nlisten: 127.0.0.1:1\n"), 0o600)
	base := []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN="}
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		// Redis: the URL of each topology, and the options that conflict.
		{[]string{"NAVIUS_DATABASE_URL=redis+sentinel://:pw@127.0.0.1:26379"}, nil, "no master name: add ?master=NAME"},
		{[]string{"NAVIUS_DATABASE_URL=redis+cluster://127.0.0.1:7000/3"}, nil, "a cluster URL takes no database number"},
		{[]string{"NAVIUS_DATABASE_URL=redis+cluster://:pw@"}, nil, "no host: list at least one"},
		{[]string{"NAVIUS_DATABASE_URL=redis+cluster://127.0.0.1:7000,127.0.0.1:70x0"}, nil, `has an invalid port "70x0"`},
		{[]string{"NAVIUS_DATABASE_URL=redis://127.0.0.1:6379/abc"}, nil, `bad Redis URL "redis://127.0.0.1:6379/abc"`},
		{[]string{"NAVIUS_DATABASE_URL=redis://::1:6379"}, nil, "write an IPv6 address in brackets"},
		{[]string{"NAVIUS_DATABASE_URL=redis+cluster://127.0.0.1:7000", "NAVIUS_REDIS_KEY_PREFIX={app}"}, nil, `redis.key_prefix "{app}" holds a brace`},
		{[]string{"NAVIUS_CACHE_URL=redis+sentinel://127.0.0.1:26379"}, nil, "no master name"},
		// PostgreSQL.
		{[]string{"NAVIUS_DATABASE_URL=postgres://navius@127.0.0.1:5432/navius?sslmode=prefer"}, nil, "sslmode=prefer may fall back to an unencrypted connection"},
		{[]string{"NAVIUS_DATABASE_URL=postgres://navius@127.0.0.1:5432/navius?sslmode=allow"}, nil, "sslmode=allow may fall back"},
		{[]string{"NAVIUS_DATABASE_URL=host=127.0.0.1 user=navius password=pw dbname=navius"}, nil, "has no scheme"},
		// bolt and memory.
		{[]string{"NAVIUS_DATABASE_URL=bolt://"}, nil, `bolt URL "bolt://" names no file`},
		{[]string{"NAVIUS_DATABASE_URL=memory://host/path"}, nil, `bad memory URL "memory://host/path"`},
		{nil, []string{"--set", "bolt.max_batch_size=0"}, "bolt.max_batch_size is 0"},
		// The observability providers against the server.
		{nil, []string{"--set", "prometheus.path=/health"}, "prometheus.path /health is one of the server's own endpoints"},
		{nil, []string{"--set", "prometheus.path=/info"}, "prometheus.path /info is one of the server's own endpoints"},
		{nil, []string{"--set", "prometheus.path=/readyz"}, "prometheus.path /readyz is one of the server's own endpoints"},
		{[]string{"NAVIUS_LISTEN=127.0.0.1:18089"}, []string{"--pprof-listen", "127.0.0.1:18089"}, "pprof.listen 127.0.0.1:18089 is the API's listen address"},
		{nil, []string{"--pprof-listen", "0.0.0.0:0"}, "reachable beyond loopback while authentication is off"},
		// Tokens.
		{[]string{"NAVIUS_AUTH_TOKENS=read:dup-token-0123456789,write:dup-token-0123456789"}, nil, "auth.tokens entry 2 holds the same token as auth.tokens entry 1"},
		{[]string{"NAVIUS_AUTH_TOKENS=read: tok-0123456789abcdef"}, nil, "auth.tokens entry 1: the value after the scopes holds whitespace"},
		{[]string{"NAVIUS_AUTH_TOKENS=read:tok"}, nil, "auth.tokens entry 1: the token has 3 characters; use at least 16"},
		// Bounds, files, documents.
		{nil, []string{"--set", "server.read_timeout=0"}, `server.read_timeout: "0" is out of range: use at least 1ms; 0 would mean no limit at all`},
		{nil, []string{"--set", "server.read_header_timeout=0"}, `server.read_header_timeout: "0" is out of range`},
		{nil, []string{"--set", "server.idle_timeout=0"}, `server.idle_timeout: "0" is out of range`},
		// The providers' timeouts, whichever database is configured.
		{nil, []string{"--set", "redis.dial_timeout=0"}, `redis.dial_timeout: "0" is out of range: use at least 1ms; 0 would mean no limit at all`},
		{[]string{"NAVIUS_REDIS_READ_TIMEOUT=0s"}, nil, `redis.read_timeout: "0s" is out of range: use at least 1ms`},
		{nil, []string{"--set", "redis.write_timeout=0"}, `redis.write_timeout: "0" is out of range`},
		{[]string{"NAVIUS_DATABASE_URL=redis://127.0.0.1:1"}, []string{"--set", "redis.min_replicas_timeout=0"}, `redis.min_replicas_timeout: "0" is out of range`},
		{[]string{"NAVIUS_DATABASE_URL=postgres://navius@127.0.0.1:1/navius"}, []string{"--set", "postgres.connect_timeout=0"}, `postgres.connect_timeout: "0" is out of range: use at least 1ms`},
		{nil, []string{"--set", "postgres.connect_timeout=-1s"}, `postgres.connect_timeout: "-1s" is not a duration`},
		{nil, []string{"--set", "server.max_body_bytes=0"}, `server.max_body_bytes: "0" is out of range: use 1 to 1GiB`},
		{nil, []string{"--set", "server.max_body_bytes=2GiB"}, `server.max_body_bytes: "2GiB" is out of range`},
		{nil, []string{"--set", "database.max_connections=-1"}, `database.max_connections: "-1" is out of range`},
		{nil, []string{"--set", "cache.capacity=0"}, `cache.capacity: "0" is out of range`},
		{nil, []string{"--set", "health.disk_path=/no/such/dir"}, "health.disk_path /no/such/dir (flag --set health.disk_path): no such file or directory"},
		{nil, []string{"--config", multiDoc}, "line 2: a second YAML document"},
		{nil, []string{"--set", "server.tls.cert_file=/no/such/cert.pem", "--set", "server.tls.key_file=/no/such/key.pem"}, "server.tls.cert_file: open /no/such/cert.pem: no such file or directory"},
	}
	for _, c := range cases {
		bothRefuse(t, bin, append(slices.Clone(base), c.env...), c.args, c.want)
	}
}

// bothRefuse runs config check and serve with env and args: each must exit
// 2 with one line holding want, and the two must say the same.
func bothRefuse(t *testing.T, bin string, env, args []string, want string) {
	t.Helper()
	checkCode, _, checkErr := run(t, bin, env, append([]string{"config", "check"}, args...)...)
	serveCode, serveErr := serveRefused(t, bin, env, args...)
	for cmd, r := range map[string]struct {
		code   int
		stderr string
	}{"config check": {checkCode, checkErr}, "serve": {serveCode, serveErr}} {
		if r.code != 2 || !strings.Contains(r.stderr, want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s %v %v: exit %d, stderr %q; want exit 2 and one line with %q", cmd, env, args, r.code, r.stderr, want)
		}
	}
	if checkErr != serveErr {
		t.Errorf("%v %v: config check says %q, serve %q", env, args, checkErr, serveErr)
	}
}

// TestErrorsNameThingsOnce: a bolt file that cannot be opened is named once.
func TestErrorsNameThingsOnce(t *testing.T) {
	bin, _ := binary(t, "default")
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	os.Mkdir(db, 0o755) // a directory where the file should be
	code, stderr := serveRefused(t, bin, []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_DATABASE_URL=bolt://" + db})
	if code != 1 || strings.Count(stderr, db) != 1 {
		t.Errorf("exit %d, stderr %q: want the file named once", code, stderr)
	}
}

// TestRedisRefusedCredentialsExit2: a wrong or missing Redis password stops
// serve with exit 2 and the fix, as PostgreSQL's does, instead of serving
// unready forever.
func TestRedisRefusedCredentialsExit2(t *testing.T) {
	bin, _ := binary(t, "redis")
	srv := redistest.Start(t, "--requirepass", "right-password")
	base := []string{"NAVIUS_LISTEN=127.0.0.1:0"}
	for _, env := range [][]string{
		{"NAVIUS_DATABASE_URL=redis://:wrong-password@" + srv.Addr + "/0"},
		{"NAVIUS_DATABASE_URL=redis://" + srv.Addr + "/0"},
		{"NAVIUS_DATABASE_URL=redis://" + srv.Addr + "/0", "NAVIUS_REDIS_PASSWORD=wrong-password"},
	} {
		code, stderr := serveRefused(t, bin, append(slices.Clone(base), env...))
		if code != 2 || !strings.Contains(stderr, "refused the credentials") || !strings.Contains(stderr, "check the password") ||
			strings.Contains(stderr, "wrong-password") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, %q", env, code, stderr)
		}
	}
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=redis://" + srv.Addr + "/0", "NAVIUS_REDIS_PASSWORD=right-password"})
	if code, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); code != 204 {
		t.Fatalf("PUT with the right password: %d %s", code, body)
	}
}

// TestRedisSentinelRefusedCredentialsExit2: sentinels that require a
// password and are given a wrong one, or none, stop serve with exit 2 and
// the one-line fix naming redis.sentinel_password, showing no password;
// the master's password in the URL is not the sentinels'. With the right
// one it serves.
func TestRedisSentinelRefusedCredentialsExit2(t *testing.T) {
	bin, _ := binary(t, "redis")
	st := redistest.StartSentinel(t, redistest.SentinelPassword("sentinel-right-pw"))
	url := "NAVIUS_DATABASE_URL=" + st.URL(0)
	base := []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_CACHE_URL=none"}
	for _, env := range [][]string{
		{url, "NAVIUS_REDIS_SENTINEL_PASSWORD=sentinel-wrong-pw"},
		{url},
		{"NAVIUS_DATABASE_URL=" + strings.Replace(st.URL(0), "://", "://:sentinel-right-pw@", 1)},
	} {
		code, stderr := serveRefused(t, bin, append(slices.Clone(base), env...))
		if code != 2 || !regexp.MustCompile(`sentinel 127\.0\.0\.1:\d+ refused the credentials`).MatchString(stderr) ||
			!strings.Contains(stderr, "check redis.sentinel_password") || strings.Contains(stderr, "-pw") ||
			strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, %q", env, code, stderr)
		}
	}
	p := serve(t, bin, t.TempDir(), append(slices.Clone(base), url, "NAVIUS_REDIS_SENTINEL_PASSWORD=sentinel-right-pw"))
	if code, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); code != 204 {
		t.Fatalf("PUT with the right sentinel password: %d %s", code, body)
	}
}

// TestBackendTransitionsLogged: a database that goes down is logged once at
// warn with the error, and once at info when it is back with how long it
// was down; the checks in between log nothing.
func TestBackendTransitionsLogged(t *testing.T) {
	bin, _ := binary(t, "redis")
	srv := redistest.Start(t)
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + srv.URL(0), "NAVIUS_HEALTH_CHECK_INTERVAL=50ms", "NAVIUS_HEALTH_CACHE_TTL=10ms"})
	waitLog := func(msg string) map[string]any {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, line := range strings.Split(p.Logs(), "\n") {
				var e map[string]any
				if json.Unmarshal([]byte(line), &e) == nil && e["msg"] == msg {
					return e
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no %q in the log within 20s:\n%s", msg, p.Logs())
		return nil
	}
	srv.Stop()
	down := waitLog("database is down")
	if down["level"] != "warning" || !strings.Contains(fmt.Sprint(down["error"]), "refused") {
		t.Errorf("down: %v", down)
	}
	// Many checks fail meanwhile; then the server comes back.
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	up := waitLog("database is up again")
	if up["level"] != "info" || up["down_for"] == nil {
		t.Errorf("up: %v", up)
	}
	if n := strings.Count(p.Logs(), `"database is down"`); n != 1 {
		t.Errorf("the outage was logged %d times", n)
	}
}

// TestSplunkLossesInMetrics: the Splunk sink's failed and dropped events
// are Prometheus counters, so that an alert can fire on them.
func TestSplunkLossesInMetrics(t *testing.T) {
	bin, _ := binary(t, "memory,prometheus,splunk")
	hec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusForbidden) // a permanent refusal: the batch fails
		_, _ = io.WriteString(w, `{"text":"Invalid token","code":4}`)
	}))
	defer hec.Close()
	p := serve(t, bin, t.TempDir(), []string{"NAVIUS_SPLUNK_ENDPOINT=" + hec.URL, "NAVIUS_SPLUNK_TOKEN=hec-token-0123456789",
		"NAVIUS_SPLUNK_FLUSH_INTERVAL=10ms", "NAVIUS_SPLUNK_QUEUE_SIZE=1", "NAVIUS_SPLUNK_LEVEL=info"})
	counter := regexp.MustCompile(`navius_log_sink_events_total\{outcome="(\w+)",sink="splunk"\} (\d+)`)
	deadline := time.Now().Add(20 * time.Second)
	var got map[string]string
	for time.Now().Before(deadline) {
		for range 20 { // access lines for the sink
			p.Do(t, "GET", "/api/v1/c/nothing", "")
		}
		_, body := p.Do(t, "GET", "/metrics", "")
		got = map[string]string{}
		for _, m := range counter.FindAllStringSubmatch(body, -1) {
			got[m[1]] = m[2]
		}
		if got["failed"] != "" && got["failed"] != "0" && got["dropped"] != "" && got["dropped"] != "0" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("navius_log_sink_events_total = %v: want failed and dropped events counted", got)
}

// TestForgedCursorsRefused: a cursor navius did not hand out gets 400 on
// every engine.
func TestForgedCursorsRefused(t *testing.T) {
	bin, _ := binary(t, "all")
	pg := pgtest.Start(t)
	rd := redistest.Start(t)
	for _, url := range []string{"memory://", "bolt://./data/navius.db", pg.URL("postgres"), rd.URL(0)} {
		p := serve(t, bin, t.TempDir(), []string{"NAVIUS_DATABASE_URL=" + url, "NAVIUS_PPROF_LISTEN=", "NAVIUS_CACHE_URL=none"})
		for i := range 3 {
			p.Do(t, "PUT", fmt.Sprintf("/api/v1/pets/k%d", i), "v")
		}
		code, body := p.Do(t, "GET", "/api/v1/pets?limit=1", "")
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &page) != nil || page.NextCursor == "" {
			t.Fatalf("%s: first page %d %s", url, code, body)
		}
		if code, body := p.Do(t, "GET", "/api/v1/pets?limit=1&cursor="+page.NextCursor, ""); code != 200 {
			t.Errorf("%s: the cursor handed out = %d %s", url, code, body)
		}
		// Made up: not base64 of anything navius writes, a key without
		// its checksum ("key1"), and a Redis walk in the form navius
		// wrote before its cursors carried a checksum (version 1, HSCAN
		// cursor 4), well formed but unsealed. Then a cursor handed out
		// with its checksum mangled.
		mangled := page.NextCursor[:len(page.NextCursor)-2] + "AA"
		if mangled == page.NextCursor {
			mangled = page.NextCursor[:len(page.NextCursor)-2] + "BA"
		}
		forgeries := []string{"zzzz", "azA", "a2V5MQ", "AQQ", mangled}
		for _, forged := range forgeries {
			if code, body := p.Do(t, "GET", "/api/v1/pets?cursor="+forged, ""); code != 400 || !strings.Contains(body, "cursor") {
				t.Errorf("%s: forged cursor %q = %d %s", url, forged, code, body)
			}
		}
		p.Stop(t)
	}
}

// TestBuildsStartAsBuilt: every shipped profile and every single-backend
// build starts with only the settings it requires (a networked database's
// URL); without them, config check and serve name the option and the
// schemes compiled in.
func TestBuildsStartAsBuilt(t *testing.T) {
	pg := pgtest.Start(t)
	rd := redistest.Start(t)
	required := map[string][]string{
		"postgres": {"NAVIUS_DATABASE_URL=" + pg.URL("postgres")},
		"redis":    {"NAVIUS_DATABASE_URL=" + rd.URL(0)},
	}
	profiles, _ := filepath.Glob(filepath.Join(root, "profiles", "*.json"))
	var specs []string
	for _, f := range profiles {
		specs = append(specs, "profile:"+strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	if len(specs) < 3 {
		t.Fatalf("profiles: %v", profiles)
	}
	m := loadManifest(t)
	for _, f := range m.Features {
		if slices.ContainsFunc(f.Provides, func(p string) bool { return strings.HasPrefix(p, "database:") }) {
			specs = append(specs, f.Name)
		}
	}
	for _, spec := range specs {
		features := spec
		if name, ok := strings.CutPrefix(spec, "profile:"); ok {
			features = "none," + strings.Join(readProfile(t, name), ",")
		}
		bin, sel := binary(t, features)
		// A build with bolt or memory has a default database; one of a
		// networked database alone needs its URL.
		var env []string
		if !slices.Contains(sel.Features, "bolt") && !slices.Contains(sel.Features, "memory") {
			for _, f := range sel.Features {
				env = append(env, required[f]...)
			}
		}
		// Not a setting the build needs: tests never take a fixed port.
		env = append(env, "NAVIUS_PPROF_LISTEN=127.0.0.1:0")
		p := serve(t, bin, t.TempDir(), env)
		if code, body := p.Do(t, "PUT", "/api/v1/c/k", "v"); code != 204 {
			t.Errorf("%s: PUT = %d %s", spec, code, body)
		}
		p.Stop(t)
		if len(env) > 1 {
			// Without the URL, both commands name the option and the
			// schemes this build opens.
			code, _, stderr := run(t, bin, []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN="}, "config", "check")
			if code != 2 || !strings.Contains(stderr, "database.url is not set") || !strings.Contains(stderr, spec+"://") {
				t.Errorf("%s without database.url: exit %d %q", spec, code, stderr)
			}
			code, serveErr := serveRefused(t, bin, []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN="})
			if code != 2 || serveErr != stderr {
				t.Errorf("%s: serve without database.url: exit %d %q", spec, code, serveErr)
			}
		}
	}
}

// TestSecretsSweep puts a canary secret into every secret option and every
// URL option (its password, in well-formed and malformed values, by
// environment, flag and file), and into the environment variables navius
// reads besides its own (PGPASSWORD), then runs config check, serve (until
// it exits or is ready), build --from-config, docs and package: the canary
// must appear in no output, no log and no file written.
func TestSecretsSweep(t *testing.T) {
	bin, _ := binary(t, "all")
	tool, _ := binary(t, "default")
	const canary = "CANARYs3cr3t7d1e"
	code, out, stderr := run(t, bin, nil, "config", "keys", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var opts []struct {
		Key, Type, Env, Flag string
		Secret               bool
	}
	if err := json.Unmarshal([]byte(out), &opts); err != nil {
		t.Fatal(err)
	}
	urlForms := func(scheme string) []string {
		return []string{
			scheme + "://user:" + canary + "@127.0.0.1:1/x",
			scheme + "//user:" + canary + "@127.0.0.1:1/x",
			scheme + "://user:" + canary + "@[::1",
			scheme + "://:" + canary + "@127.0.0.1:99999/x",
			scheme + "://user:" + canary + "@127.0.0.1:1,127.0.0.1:2/x",
			scheme + "://127.0.0.1:1/x?password=" + canary,
			"user:" + canary + "@127.0.0.1",
			"host=127.0.0.1 user=navius password=" + canary + " dbname=x",
			"host=127.0.0.1 password='" + canary + " quoted'",
		}
	}
	type trial struct{ key, value string }
	var trials []trial
	for _, o := range opts {
		switch {
		case o.Key == "auth.tokens":
			for _, v := range []string{"read:" + canary, "read: " + canary, "nope:" + canary, canary, "read:" + canary + ",write:" + canary, "read+write:" + canary + "-and-more"} {
				trials = append(trials, trial{o.Key, v})
			}
		case o.Secret:
			trials = append(trials, trial{o.Key, canary}, trial{o.Key, canary + " with spaces"})
		case o.Type == "url" || strings.HasSuffix(o.Key, ".endpoint"):
			schemes := []string{"https"}
			if o.Key == "database.url" || o.Key == "cache.url" {
				schemes = []string{"memory", "bolt", "postgres", "redis", "rediss", "redis+sentinel", "redis+cluster"}
			}
			for _, s := range schemes {
				for _, v := range urlForms(s) {
					trials = append(trials, trial{o.Key, v})
				}
			}
		}
	}
	envOf := func(key string) string {
		for _, o := range opts {
			if o.Key == key {
				return o.Env
			}
		}
		t.Fatalf("no option %s", key)
		return ""
	}
	base := []string{"NAVIUS_LISTEN=127.0.0.1:0", "NAVIUS_PPROF_LISTEN=", "NAVIUS_LOG_LEVEL=trace", "PGPASSWORD=" + canary}
	check := func(what, text string) {
		if strings.Contains(text, canary) {
			t.Errorf("%s shows the canary:\n%s", what, text)
		}
	}
	dir := t.TempDir()
	outcomes := map[bool]int{}
	for i, tr := range trials {
		env, args := slices.Clone(base), []string(nil)
		switch i % 3 { // each source in turn
		case 0:
			env = append(env, envOf(tr.key)+"="+tr.value)
		case 1:
			args = []string{"--set", tr.key + "=" + tr.value}
		case 2:
			file := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
			os.WriteFile(file, []byte(fmt.Sprintf("%s: %q\n", tr.key, tr.value)), 0o600)
			args = []string{"--config", file}
		}
		_, o, e := run(t, bin, env, append([]string{"config", "check"}, args...)...)
		check(fmt.Sprintf("config check %s=%q", tr.key, tr.value), o+e)
		served := serveUntilReady(t, bin, env, args...)
		check(fmt.Sprintf("serve %s=%q", tr.key, tr.value), served)
		outcomes[strings.Contains(served, `"navius is serving"`)]++
	}
	// The sweep saw both: values serve refused, and values it started with.
	if outcomes[true] == 0 || outcomes[false] == 0 {
		t.Errorf("of %d trials, %d served and %d were refused: the sweep misses a path", len(trials), outcomes[true], outcomes[false])
	}
	// A --set typed with the wrong separator.
	_, o, e := run(t, bin, base, "config", "check", "--set", "auth.tokens:read:"+canary)
	check("config check --set with a colon", o+e)

	// build --from-config: malformed values fail before building, a
	// well-formed config is built and its check run.
	for i, v := range append(urlForms("redis"), "redis://user:"+canary+"@127.0.0.1:1/0") {
		file := filepath.Join(dir, fmt.Sprintf("from%d.yaml", i))
		os.WriteFile(file, []byte(fmt.Sprintf("database.url: %q\nsplunk.token: %q\n", v, canary)), 0o600)
		_, o, e := runIn(t, dir, "", tool, base, "build", "--source", root, "--from-config", file, "--output", "out")
		check("build --from-config with database.url "+v, o+e)
	}
	// docs, with every secret in the environment.
	env := slices.Clone(base)
	for _, o := range opts {
		if o.Secret {
			env = append(env, o.Env+"="+canary)
		}
	}
	_, o, e = runIn(t, dir, "", tool, env, "docs", "--output", "site")
	check("docs", o+e)
	filepath.Walk(filepath.Join(dir, "site"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			check("docs page "+p, string(data))
		}
		return nil
	})
	// package (its cheapest form: one host archive, no image), with every
	// secret and every URL's password in the environment: no file of the
	// archive (binary, SBOM, README, sample config) holds the canary.
	for _, o := range opts {
		switch {
		case o.Key == "database.url" || o.Key == "cache.url":
			env = append(env, o.Env+"=redis://user:"+canary+"@127.0.0.1:1/0")
		case o.Type == "url" || strings.HasSuffix(o.Key, ".endpoint"):
			env = append(env, o.Env+"=https://user:"+canary+"@127.0.0.1:1/x")
		}
	}
	code, o, e = runIn(t, dir, "", tool, env, "package", "--features", "memory,splunk", "--source", root, "--output", "dist")
	check("package", o+e)
	archives, _ := filepath.Glob(filepath.Join(dir, "dist", "navius-*.tar.gz"))
	if code != 0 || len(archives) != 1 {
		t.Fatalf("package: exit %d, archives %v\n%s%s", code, archives, o, e)
	}
	entries := 0
	eachEntry(t, archives[0], func(h *tar.Header, data []byte) {
		entries++
		check("package file "+h.Name, string(data))
	})
	if entries < 5 {
		t.Errorf("the archive holds %d files", entries)
	}
}

// serveUntilReady runs serve until it exits or logs that it serves (then
// stops it) and returns its output.
func serveUntilReady(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--log-format", "json"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	p, err := harness.Start(cmd, 30*time.Second, harness.ServingAddr)
	switch {
	case errors.Is(err, harness.ErrNotReady):
		t.Fatalf("serve %v neither exited nor served within 30s:\n%s", args, p.Logs())
	case err == nil:
		_ = p.Stop(t)
	}
	return p.Logs()
}
