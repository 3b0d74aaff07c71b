// Command pgbench measures navius on PostgreSQL against pgbench on the same
// server and cores, in the same run: GET through navius (cache off, so every
// GET is one SELECT) against pgbench -S (select-only); PUT through navius in
// each postgres.notify mode against a pgbench script running navius's own
// statements (and the plain upsert without a notification); and concurrent
// PUT on PostgreSQL against the same PUT on bolt (batched commits). Each
// scenario runs several rounds, alternating the sides; medians are reported
// with p50 and p99 latency. The PostgreSQL server is a private cluster
// (internal/pgtest) with fsync and synchronous commit on.
//
// With -before, a navius binary built from an older tree (with the same
// features) runs beside it on a table of its own with the same rows, and
// the GET and PUT scenarios compare the two.
//
//	make build FEATURES=default,postgres BIN=bin/navius-postgres
//	go run ./bench/pgbench -navius bin/navius-postgres -duration 10s -rounds 3
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
	"github.com/navius-dev/navius/internal/pgtest"
	"github.com/navius-dev/navius/providers/postgres"
)

var (
	naviusBin = flag.String("navius", "bin/navius-postgres", "navius binary built with FEATURES=default,postgres")
	duration  = flag.Duration("duration", 10*time.Second, "length of each measurement")
	rounds    = flag.Int("rounds", 3, "rounds per scenario")
	conns     = flag.Int("connections", 64, "wrk connections to navius")
	clients   = flag.Int("clients", 16, "PostgreSQL connections: navius's pool (database.max_connections) and pgbench's clients")
	keys      = flag.Int("keys", 100000, "rows for the GET scenarios (pgbench -i -s 1 makes 100000 accounts)")
	luaDir    = flag.String("lua", "bench/wrk", "directory of wrk scripts")
	only      = flag.String("only", "", "run only the scenarios whose name contains this (GET, PUT, bolt)")
	before    = flag.String("before", "", "a navius binary built from an older tree with the same features, to compare GET and PUT with")
)

func main() {
	flag.Parse()
	load.Prepare("pgbench", []string{"wrk"}, naviusBin, luaDir, before)
	if err := run(); err != nil {
		fail(err)
	}
}

func fail(err error) { load.Fail("pgbench", err) }

// result is one measurement.
type result struct {
	rps, p50, p99 float64 // per second, ms, ms
}

type series struct{ rps, p50, p99 []float64 }

func (s *series) add(r result) {
	s.rps, s.p50, s.p99 = append(s.rps, r.rps), append(s.p50, r.p50), append(s.p99, r.p99)
}

func (s *series) median() result {
	return result{load.Median(s.rps), load.Median(s.p50), load.Median(s.p99)}
}

func run() error {
	ctx := context.Background()
	srv, err := pgtest.Launch(pgtest.Options{Durable: true, Settings: map[string]string{"shared_buffers": "128MB"}})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.CreateDatabase(ctx, "bench"); err != nil {
		return err
	}
	bin, err := pgtest.BinDir()
	if err != nil {
		return err
	}
	pgbenchBin := filepath.Join(bin, "pgbench")
	work, err := os.MkdirTemp("", "pgbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// pgbench's tables (scale 1: 100000 accounts), and navius's table with
	// as many 256-byte values.
	if out, err := exec.Command(pgbenchBin, "-i", "-s", "1", "-q", "-h", srv.Host, "-p", strconv.Itoa(srv.Port), "-U", "postgres", "bench").CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}
	ddl, _ := postgres.DDL("navius_kv")
	for _, stmt := range ddl {
		if err := srv.Exec(ctx, "bench", stmt); err != nil {
			return err
		}
	}
	if err := srv.Exec(ctx, "bench", `INSERT INTO navius_kv (collection, key, value)
		SELECT 'bench', 'k' || lpad(g::text, 6, '0'), convert_to(repeat('v', 256), 'UTF8') FROM generate_series(0, $1 - 1) g`, *keys); err != nil {
		return err
	}
	if err := srv.Exec(ctx, "bench", "VACUUM ANALYZE"); err != nil {
		return err
	}
	getLua := filepath.Join(work, "get.lua")
	if err := os.WriteFile(getLua, []byte(fmt.Sprintf(`request = function()
  return wrk.format("GET", string.format("/api/v1/bench/k%%06d", math.random(0, %d)))
end
`, *keys-1)), 0o644); err != nil {
		return err
	}
	// navius's own statements (table and channel as navius names them):
	// the upsert followed by a NOTIFY of its own (postgres.notify
	// after_write), the upsert with the NOTIFY in it (with_write), and the
	// plain upsert.
	const value = "convert_to(repeat('v', 256), 'UTF8')"
	upsert := func(coll string) string {
		return `INSERT INTO "navius_kv" AS e (collection, key, value, version, expires_at, updated_at) VALUES ('` + coll + `', 'k' || :k || '-' || :client_id, ` + value +
			`, :k, now() + NULL::interval, now()) ON CONFLICT (collection, key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at`
	}
	const notify = `pg_notify('navius_kv', '0123456789abcdef 3 pgbk' || :k)`
	scripts := map[string]string{
		"after.sql": upsert("pga") + ";\nSELECT " + notify + ";\n",
		"with.sql":  "WITH w AS (" + upsert("pgw") + " RETURNING 1) SELECT " + notify + " FROM w;\n",
		"plain.sql": upsert("pgp") + ";\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(work, name), []byte("\\set k random(1, 1000000000)\n"+body), 0o644); err != nil {
			return err
		}
	}

	dbURL := fmt.Sprintf("postgres://postgres@%s/bench?sslmode=disable", srv.Addr())
	common := []string{"serve", "--cache-url", "none", "--log-access=false", "--log-level", "warn"}
	pgArgs := append(common, "--database-url", dbURL, "--database-max-connections", strconv.Itoa(*clients))
	nav, err := startNavius(pgArgs)
	if err != nil {
		return err
	}
	defer nav.Stop()
	navWith, err := startNavius(append(pgArgs, "--set", "postgres.notify=with_write"))
	if err != nil {
		return err
	}
	defer navWith.Stop()
	boltDir := filepath.Join(work, "bolt")
	bolt, err := startNavius(append(common, "--database-url", "bolt://"+boltDir+"/data.db"))
	if err != nil {
		return err
	}
	defer bolt.Stop()

	var old *load.Server
	if *before != "" {
		// The older navius makes its own table at start, of its own layout;
		// it gets the same rows.
		if old, err = startNaviusBin(*before, append(common, "--database-url", dbURL, "--database-max-connections", strconv.Itoa(*clients),
			"--set", "postgres.table=navius_kv_before")); err != nil {
			return err
		}
		defer old.Stop()
		if err := srv.Exec(ctx, "bench", `INSERT INTO navius_kv_before (collection, key, value)
			SELECT 'bench', 'k' || lpad(g::text, 6, '0'), convert_to(repeat('v', 256), 'UTF8') FROM generate_series(0, $1 - 1) g`, *keys); err != nil {
			return err
		}
		if err := srv.Exec(ctx, "bench", "VACUUM ANALYZE"); err != nil {
			return err
		}
	}

	pgb := func(args ...string) (result, error) {
		return pgbench(pgbenchBin, srv, work, args...)
	}
	type side struct {
		name string
		run  func() (result, error)
	}
	type scenario struct {
		name  string
		sides []side
	}
	put := filepath.Join(*luaDir, "put.lua")
	scenarios := []scenario{
		{"GET by key", []side{
			{"navius GET (cache off)", func() (result, error) { return wrk(nav.Base, getLua) }},
			{"pgbench -S (select-only)", func() (result, error) { return pgb("-S") }},
		}},
		{"PUT, notify after_write (default)", []side{
			{"navius PUT", func() (result, error) { return wrk(nav.Base, put) }},
			{"pgbench: upsert, then pg_notify", func() (result, error) { return pgb("-f", filepath.Join(work, "after.sql")) }},
			{"pgbench: plain upsert", func() (result, error) { return pgb("-f", filepath.Join(work, "plain.sql")) }},
		}},
		{"PUT, notify with_write", []side{
			{"navius PUT", func() (result, error) { return wrk(navWith.Base, put) }},
			{"pgbench: upsert with pg_notify in it", func() (result, error) { return pgb("-f", filepath.Join(work, "with.sql")) }},
		}},
		{"concurrent PUT, PostgreSQL vs bolt", []side{
			{"navius PUT, PostgreSQL (after_write)", func() (result, error) { return wrk(nav.Base, put) }},
			{"navius PUT, bolt (batched)", func() (result, error) { return wrk(bolt.Base, put) }},
		}},
	}
	if old != nil {
		scenarios = append(scenarios,
			scenario{"GET by key (cache off), this navius vs -before", []side{
				{"navius GET", func() (result, error) { return wrk(nav.Base, getLua) }},
				{"-before navius GET", func() (result, error) { return wrk(old.Base, getLua) }},
			}},
			scenario{"PUT (after_write), this navius vs -before", []side{
				{"navius PUT", func() (result, error) { return wrk(nav.Base, put) }},
				{"-before navius PUT", func() (result, error) { return wrk(old.Base, put) }},
			}})
	}
	fmt.Printf("%d rounds of %s alternating, medians. wrk -t2 -c%d against navius (database.max_connections %d, cache off, access log off);\n"+
		"pgbench -c %d -j 2 -M prepared over TCP; PostgreSQL %s with fsync and synchronous_commit on; %d rows of 256 bytes.\n\n",
		*rounds, duration, *conns, *clients, *clients, filepath.Base(filepath.Dir(bin)), *keys)
	fmt.Println("| scenario | side | req/s or tx/s | p50 / p99 ms | first side ÷ this side |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, sc := range scenarios {
		if !strings.Contains(sc.name, *only) {
			continue
		}
		results := make([]series, len(sc.sides))
		for range *rounds {
			for i, s := range sc.sides {
				r, err := s.run()
				if err != nil {
					return fmt.Errorf("%s, %s: %w", sc.name, s.name, err)
				}
				results[i].add(r)
			}
		}
		first := results[0].median()
		for i, s := range sc.sides {
			m := results[i].median()
			fmt.Printf("| %s | %s | %.0f | %.2f / %.2f | %.2f |\n", sc.name, s.name, m.rps, m.p50, m.p99, first.rps/m.rps)
		}
	}
	return nil
}

func startNavius(args []string) (*load.Server, error) { return startNaviusBin(*naviusBin, args) }

// startNaviusBin runs bin serve with args on a free loopback port until it
// is ready.
func startNaviusBin(bin string, args []string) (*load.Server, error) {
	return load.Start(load.Spec{Name: "navius", Bin: bin, Args: append(args, "--listen", "{addr}"), Ready: "/readyz"})
}

var tpsRE = regexp.MustCompile(`tps = ([\d.]+) \(without initial connection time\)`)

// wrk loads base with script (wrk -t2) and fails on any non-2xx answer.
func wrk(base, script string) (result, error) {
	r, err := load.Wrk(base, script, *conns, *duration)
	if err != nil {
		return result{}, err
	}
	if r.Non2xx > 0 {
		return result{}, fmt.Errorf("wrk %s: %d non-2xx responses", base, r.Non2xx)
	}
	return result{r.RPS, r.P50, r.P99}, nil
}

// pgbench runs pgbench for the duration and reads its transactions per
// second and, from its per-transaction log, the latency percentiles.
func pgbench(bin string, srv *pgtest.Server, work string, args ...string) (result, error) {
	logDir, err := os.MkdirTemp(work, "log-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(logDir)
	all := append([]string{"-h", srv.Host, "-p", strconv.Itoa(srv.Port), "-U", "postgres", "-n", "-M", "prepared",
		"-c", strconv.Itoa(*clients), "-j", "2", "-T", strconv.Itoa(int(duration.Seconds())),
		"--log", "--log-prefix", filepath.Join(logDir, "tx")}, args...)
	cmd := exec.Command(bin, append(all, "bench")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("pgbench %v: %v\n%s", args, err, out)
	}
	var r result
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("pgbench %v: no tps in\n%s", args, out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	// Log lines: client_id transaction_no time_us script_no epoch epoch_us.
	var lat []float64
	files, _ := filepath.Glob(filepath.Join(logDir, "tx*"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return result{}, err
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 3 {
				if us, err := strconv.ParseFloat(fields[2], 64); err == nil {
					lat = append(lat, us/1000)
				}
			}
		}
		fh.Close()
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r, nil
}
