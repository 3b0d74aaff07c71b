package pprof

import (
	"net"
	"strings"

	"github.com/navius-dev/navius/providers"
)

// Check is the part of Open that depends on the settings alone: the admin
// listener must not take the API listener's address, and it stays on
// loopback unless authentication guards it, since profiles reveal the
// program's internals (and /debug/pprof/cmdline its command line).
func Check(s providers.Settings) error {
	addr := s.String("pprof.listen")
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return providers.Invalid("pprof.listen %q is not host:port (e.g. 127.0.0.1:6060)", addr)
	}
	if api := s.String("listen"); port != "0" && sameListener(addr, api) {
		return providers.Invalid("pprof.listen %s is the API's listen address %s: give the admin listener its own port (e.g. 127.0.0.1:6060), or set it empty to turn it off", addr, api)
	}
	if !loopback(host) && !authOn(s) {
		return providers.Invalid("pprof.listen %s is reachable beyond loopback while authentication is off: anyone who reaches it could read profiles and the command line of this process; keep it on 127.0.0.1, or turn authentication on (auth.tokens, auth.token_hashes or auth.client_cert_scopes; it then needs the admin scope)", addr)
	}
	return nil
}

// sameListener reports whether two listen addresses would collide: the
// same port on the same host, or on any host when either listens on every
// interface.
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return false
	}
	every := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return every(ha) || every(hb) || strings.EqualFold(ha, hb)
}

// loopback reports whether host names the loopback interface only.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authOn reports whether the settings turn the API's authentication on,
// which then guards the admin listener too (the admin scope).
func authOn(s providers.Settings) bool {
	for _, k := range []string{"auth.tokens", "auth.token_hashes", "auth.client_cert_scopes"} {
		if strings.TrimSpace(strings.ReplaceAll(s.String(k), ",", "")) != "" {
			return true
		}
	}
	return false
}
