// Command tls measures what TLS on the API listener costs: GET of a cached
// key over kept-alive connections (wrk, plain HTTP against HTTPS), and
// requests that each open a new connection (plain, a full TLS handshake,
// a resumed one with the server's session tickets). Two navius processes
// run side by side as shipped (memory database, cache and access log on),
// one with server.tls.cert_file and key_file set to a fresh ECDSA P-256
// certificate; rounds alternate them and medians are reported.
//
//	go run ./bench/tls -navius bin/navius -duration 10s -rounds 3
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/navius-dev/navius/bench/internal/load"
)

var (
	naviusBin = flag.String("navius", "bin/navius", "navius binary (default features)")
	duration  = flag.Duration("duration", 10*time.Second, "load per round and scenario")
	rounds    = flag.Int("rounds", 3, "rounds, alternating plain and TLS")
	conns     = flag.Int("connections", 64, "kept-alive connections (wrk -c)")
	dialers   = flag.Int("dialers", 16, "concurrent clients of the new-connection scenarios")
)

func main() {
	flag.Parse()
	if _, err := exec.LookPath("wrk"); err != nil {
		fail(fmt.Errorf("wrk is not on PATH: apt-get install -y wrk"))
	}
	abs, err := filepath.Abs(*naviusBin)
	if err != nil {
		fail(err)
	}
	*naviusBin = abs
	if err := run(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tls bench:", err)
	os.Exit(1)
}

func run() error {
	certDir, err := os.MkdirTemp("", "bench-tls-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(certDir)
	cert, key, err := selfSigned(certDir)
	if err != nil {
		return err
	}
	base := []string{"NAVIUS_LOG_LEVEL=info", "NAVIUS_PPROF_LISTEN="}
	plain, err := load.Start(load.Spec{Name: "plain", Bin: *naviusBin, Args: []string{"serve", "--listen", "{addr}"}, Env: base, Ready: "/readyz"})
	if err != nil {
		return err
	}
	defer plain.Stop()
	secure, err := load.Start(load.Spec{Name: "tls", Bin: *naviusBin, Args: []string{"serve", "--listen", "{addr}"}, Ready: "/readyz", TLS: true,
		Env: append(base, "NAVIUS_SERVER_TLS_CERT_FILE="+cert, "NAVIUS_SERVER_TLS_KEY_FILE="+key)})
	if err != nil {
		return err
	}
	defer secure.Stop()

	const path = "/api/v1/bench/k"
	for _, s := range []*load.Server{plain, secure} {
		if err := put(s.Base+path, bytes.Repeat([]byte("v"), 256)); err != nil {
			return err
		}
	}

	type tally struct{ keep, fresh, full, resumed []float64 }
	var p, t tally
	for r := 1; r <= *rounds; r++ {
		for _, s := range []*load.Server{plain, secure} {
			res, err := load.Wrk(s.Base+path, "", *conns, *duration)
			if err != nil {
				return err
			}
			fmt.Printf("round %d %-5s kept-alive GET: %.0f/s p50 %.2f ms p99 %.2f ms (non-2xx %d)\n", r, s.Name, res.RPS, res.P50, res.P99, res.Non2xx)
			if s == plain {
				p.keep = append(p.keep, res.RPS)
				n := perConnection(s.Base+path, &http.Transport{DisableKeepAlives: true})
				p.fresh = append(p.fresh, n)
				fmt.Printf("round %d plain new connection per GET: %.0f/s\n", r, n)
				continue
			}
			t.keep = append(t.keep, res.RPS)
			full := perConnection(s.Base+path, &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}})
			resumed := perConnection(s.Base+path, &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(1024)}})
			t.full, t.resumed = append(t.full, full), append(t.resumed, resumed)
			fmt.Printf("round %d tls   new connection per GET: full handshake %.0f/s, resumed %.0f/s\n", r, full, resumed)
		}
	}
	m := load.Median
	fmt.Printf("\nmedians of %d rounds (%s each):\n", *rounds, *duration)
	fmt.Printf("kept-alive GET, %d connections: plain %.0f/s, TLS %.0f/s: ratio %.2f\n", *conns, m(p.keep), m(t.keep), m(t.keep)/m(p.keep))
	fmt.Printf("new connection per GET, %d clients: plain %.0f/s, TLS full handshake %.0f/s (ratio %.2f), TLS resumed %.0f/s (ratio %.2f)\n",
		*dialers, m(p.fresh), m(t.full), m(t.full)/m(p.fresh), m(t.resumed), m(t.resumed)/m(p.fresh))
	fmt.Printf("RSS after load: plain %d KiB, TLS %d KiB\n", plain.RSSKiB(), secure.RSSKiB())
	return nil
}

// perConnection runs GETs of url from -dialers clients for -duration
// through tr (one connection per request) and returns the answered rate.
// The client shares the machine's cores with the server; its own half of
// each handshake is in the figure.
func perConnection(url string, tr *http.Transport) float64 {
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	var ok atomic.Int64
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for range *dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				resp, err := client.Get(url)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / duration.Seconds()
}

func put(url string, value []byte) error {
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(value))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %s", url, resp.Status)
	}
	return nil
}

// selfSigned writes an ECDSA P-256 certificate for 127.0.0.1 and its key.
func selfSigned(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "navius bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}
