package pprof

import (
	"errors"
	"strings"
	"testing"

	"github.com/navius-dev/navius/providers"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		settings providers.Settings
		want     string
	}{
		{providers.Settings{"pprof.listen": "127.0.0.1:8080", "listen": "127.0.0.1:8080"}, "is the API's listen address"},
		{providers.Settings{"pprof.listen": "127.0.0.1:8080", "listen": ":8080"}, "is the API's listen address"},
		{providers.Settings{"pprof.listen": ":6060"}, "reachable beyond loopback while authentication is off"},
		{providers.Settings{"pprof.listen": "10.0.0.1:6060"}, "reachable beyond loopback"},
		{providers.Settings{"pprof.listen": "host.example:6060"}, "reachable beyond loopback"},
		{providers.Settings{"pprof.listen": "127.0.0.1:6060", "listen": "127.0.0.1:8080"}, ""},
		{providers.Settings{"pprof.listen": "127.0.0.1:0", "listen": "127.0.0.1:0"}, ""},
		{providers.Settings{"pprof.listen": "[::1]:6060", "listen": "127.0.0.1:6060"}, ""},
		{providers.Settings{"pprof.listen": "localhost:6060"}, ""},
		{providers.Settings{"pprof.listen": ":6060", "auth.tokens": "admin:x"}, ""},
		{providers.Settings{"pprof.listen": ":6060", "auth.client_cert_scopes": "admin:ops"}, ""},
		{providers.Settings{"pprof.listen": ""}, ""},
	}
	for _, c := range cases {
		err := Check(c.settings)
		if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, providers.ErrInvalid) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: %v, want %q", c.settings, err, c.want)
		}
	}
}
