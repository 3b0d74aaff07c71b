package app

import (
	"net"
	"testing"
)

// TestListenAddr: the listen address is logged as given, with the port
// the listener got; Go would name 0.0.0.0 [::].
func TestListenAddr(t *testing.T) {
	got := &net.TCPAddr{IP: net.IPv6zero, Port: 8080}
	for given, want := range map[string]string{
		"0.0.0.0:8080":   "0.0.0.0:8080",
		"0.0.0.0:0":      "0.0.0.0:8080",
		":8080":          ":8080",
		"127.0.0.1:0":    "127.0.0.1:8080",
		"[::1]:0":        "[::1]:8080",
		"localhost:8080": "localhost:8080",
	} {
		if s := listenAddr(given, got); s != want {
			t.Errorf("listenAddr(%q) = %q, want %q", given, s, want)
		}
	}
}
