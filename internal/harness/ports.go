// Package harness starts the processes navius is tried against, for tests
// and for people: free loopback ports, and navius processes watched
// through their log (Serve). internal/pgtest and internal/redistest build
// their servers on it, the e2e tests their navius processes, and
// internal/devbackend (scripts/dev-backend.sh) the backends a newcomer
// tries navius with. It never binds a fixed port.
package harness

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// FreePort is a loopback TCP port free at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is 127.0.0.1:port with a free port.
func FreeAddr() (string, error) {
	p, err := FreePort()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), err
}

// FreePortPair is a free loopback port whose port+offset is free too (a
// Redis Cluster node's bus port is port+10000), both at most 65535.
func FreePortPair(offset int) (int, error) {
	for range 200 {
		p := 20000 + rand.IntN(25000) // below most systems' ephemeral ports
		a, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+offset)))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, nil
	}
	return 0, errors.New("no free pair of loopback ports (port, port+" + strconv.Itoa(offset) + ")")
}

// Addr is FreeAddr for a test, which fails when there is none.
func Addr(t interface {
	Helper()
	Fatal(...any)
}) string {
	t.Helper()
	a, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}
