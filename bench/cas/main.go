// Command cas measures compare-and-swap increments through navius's HTTP
// API, on any engine: clients spread over one or more navius instances
// each increment one counter a number of times by read-modify-write (GET,
// +1, PUT with If-Match: the ETag read, again from the GET on 412). It
// reports increments per second, the 412 retry rate, and whether any
// acknowledged increment was lost (the final value must equal the
// increments acknowledged). It exits 1 when one was lost or a request
// failed otherwise.
//
//	go run ./bench/cas -urls http://127.0.0.1:8081,http://127.0.0.1:8082 -clients 16 -increments 50
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	urls        = flag.String("urls", "", "navius base URLs, comma separated (the clients are spread over them)")
	clients     = flag.Int("clients", 16, "concurrent clients")
	increments  = flag.Int("increments", 50, "increments per client")
	collection  = flag.String("collection", "cas", "collection of the counter")
	key         = flag.String("key", "counter", "key of the counter (set to 0 at the start)")
	maxAttempts = flag.Int("max-attempts", 10000, "attempts per increment before the run fails")
	timeout     = flag.Duration("timeout", 5*time.Minute, "limit on the whole run")
	asJSON      = flag.Bool("json", false, "print the result as JSON")
)

// Result is what a run measured.
type Result struct {
	Clients      int     `json:"clients"`
	Instances    int     `json:"instances"`
	Acknowledged int64   `json:"acknowledged"`
	Final        int64   `json:"final"`
	Lost         int64   `json:"lost"`
	Puts         int64   `json:"puts"`
	Retries      int64   `json:"retries"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"increments_per_second"`
	RetryRate    float64 `json:"retry_rate"` // share of conditional PUTs answered 412
}

func main() {
	flag.Parse()
	bases := strings.Split(*urls, ",")
	if *urls == "" || *clients < 1 || *increments < 1 {
		fmt.Fprintln(os.Stderr, "cas: -urls is required (e.g. -urls http://127.0.0.1:8080), with -clients and -increments of at least 1")
		os.Exit(2)
	}
	r, err := run(bases)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cas:", err)
		os.Exit(1)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
	} else {
		fmt.Printf("%d clients over %d instances: %d increments acknowledged in %.2fs, %.0f increments/s; %d retries on 412 (%.1f%% of %d conditional PUTs, %.2f per increment); final value %d: %d lost\n",
			r.Clients, r.Instances, r.Acknowledged, r.Seconds, r.PerSecond, r.Retries, 100*r.RetryRate, r.Puts, float64(r.Retries)/float64(max(r.Acknowledged, 1)), r.Final, r.Lost)
	}
	if r.Lost != 0 {
		os.Exit(1)
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

func counterURL(base string) string {
	return strings.TrimRight(base, "/") + "/api/v1/" + *collection + "/" + *key
}

func run(bases []string) (Result, error) {
	client.Transport = &http.Transport{MaxIdleConnsPerHost: *clients}
	if status, _, _, err := do("PUT", counterURL(bases[0]), "0", ""); err != nil || status != http.StatusNoContent {
		return Result{}, fmt.Errorf("setting the counter to 0: %d %v", status, err)
	}
	deadline := time.Now().Add(*timeout)
	var acked, puts, retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *clients)
	start := time.Now()
	for c := range *clients {
		url := counterURL(bases[c%len(bases)])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range *increments {
				if err := increment(url, deadline, &puts, &retries); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := errors.Join(drain(errs)...); err != nil {
		return Result{}, err
	}
	final, err := settled(bases)
	if err != nil {
		return Result{}, err
	}
	r := Result{Clients: *clients, Instances: len(bases), Acknowledged: acked.Load(), Final: final, Lost: acked.Load() - final,
		Puts: puts.Load(), Retries: retries.Load(), Seconds: elapsed.Seconds()}
	r.PerSecond = float64(r.Acknowledged) / r.Seconds
	r.RetryRate = float64(r.Retries) / float64(max(r.Puts, 1))
	return r, nil
}

func drain(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// increment reads the counter and writes it plus one on the condition
// that nobody wrote it since, until a write is acknowledged.
func increment(url string, deadline time.Time, puts, retries *atomic.Int64) error {
	for range *maxAttempts {
		if time.Now().After(deadline) {
			return fmt.Errorf("the run took longer than -timeout %s", *timeout)
		}
		status, body, etag, err := do("GET", url, "", "")
		if err != nil || status != http.StatusOK || etag == "" {
			return fmt.Errorf("GET %s: %d %q (ETag %q) %v", url, status, body, etag, err)
		}
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return fmt.Errorf("the counter holds %q", body)
		}
		puts.Add(1)
		status, body, _, err = do("PUT", url, strconv.FormatInt(n+1, 10), etag)
		switch {
		case err != nil:
			return fmt.Errorf("PUT %s: %v", url, err)
		case status == http.StatusNoContent:
			return nil
		case status == http.StatusPreconditionFailed:
			retries.Add(1)
		default:
			return fmt.Errorf("PUT %s: %d %s", url, status, body)
		}
	}
	return fmt.Errorf("an increment did not get through in %d attempts", *maxAttempts)
}

// settled reads the counter from every instance until they agree (an
// instance's cache may hold the value before the last write for as long as
// the change feed takes to tell it), for up to 5 s.
func settled(bases []string) (int64, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var values []string
		for _, b := range bases {
			status, body, etag, err := do("GET", counterURL(b), "", "")
			if err != nil || status != http.StatusOK {
				return 0, fmt.Errorf("reading the final value from %s: %d %q %v", b, status, body, err)
			}
			values = append(values, body+" "+etag)
		}
		agree := true
		for _, v := range values[1:] {
			agree = agree && v == values[0]
		}
		if agree || time.Now().After(deadline) {
			if !agree {
				return 0, fmt.Errorf("the instances disagree on the final value after 5s: %q", values)
			}
			value, _, _ := strings.Cut(values[0], " ")
			return strconv.ParseInt(value, 10, 64)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func do(method, url, body, ifMatch string) (status int, respBody, etag string, err error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, "", "", err
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("ETag"), err
}
