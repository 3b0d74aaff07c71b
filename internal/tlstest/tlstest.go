// Package tlstest makes certificate authorities and the certificates they
// sign, as PEM files, for tests of TLS listeners and clients (server
// certificates for 127.0.0.1 and localhost, client certificates by name).
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority with its certificate in File.
type CA struct {
	Cert *x509.Certificate
	File string
	key  *ecdsa.PrivateKey
	dir  string
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName, DNSNames and URIs name the holder; a server certificate
	// (Client false) is for 127.0.0.1 and localhost besides.
	CommonName string
	DNSNames   []string
	URIs       []string
	// Client makes a client certificate, else a server one.
	Client bool
	// NotAfter is when it expires (default: in a year).
	NotAfter time.Time
}

// Pair is an issued certificate and its key, as files.
type Pair struct {
	Cert              *x509.Certificate
	CertFile, KeyFile string
}

var serial atomic.Int64

// NewCA makes a CA whose files go into a temporary directory of the test.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := newCA(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// Server makes a CA and a server certificate it signed for 127.0.0.1 and
// localhost: the files a test's TLS server and its clients need.
func Server(t testing.TB) (caFile string, p Pair) {
	t.Helper()
	ca := NewCA(t, "navius test CA")
	return ca.File, ca.Issue(t, "server.pem", Leaf{CommonName: "localhost"})
}

// Issue signs a certificate as l describes, written as file (the
// certificate) and file.key in the CA's directory, replacing any earlier
// one by a rename, as a renewal does.
func (ca *CA) Issue(t testing.TB, file string, l Leaf) Pair {
	t.Helper()
	p, err := ca.issue(file, l)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newCA(dir, name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * 365 * 24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Cert: cert, key: key, dir: dir}
	ca.File, err = writePEM(filepath.Join(dir, fileName(name)+"-ca.pem"), "CERTIFICATE", der)
	return ca, err
}

func (ca *CA) issue(file string, l Leaf) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	notAfter := l.NotAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: l.CommonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		DNSNames: l.DNSNames, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if l.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = append(tmpl.DNSNames, "localhost")
	}
	for _, s := range l.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return Pair{}, err
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	p := Pair{}
	p.Cert, _ = x509.ParseCertificate(der)
	path := filepath.Join(ca.dir, file)
	if p.CertFile, err = writePEM(path, "CERTIFICATE", der); err != nil {
		return Pair{}, err
	}
	p.KeyFile, err = writePEM(path+".key", "EC PRIVATE KEY", keyDER)
	return p, err
}

// writePEM writes the file by renaming a complete temporary file over it,
// as a certificate renewal does, so that a reader never sees half of it.
func writePEM(path, typ string, der []byte) (string, error) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

func fileName(s string) string {
	out := []byte(s)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			out[i] = '-'
		}
	}
	return string(out)
}
