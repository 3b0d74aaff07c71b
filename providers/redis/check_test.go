package redis

import (
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/providertest"
)

// TestCheck: what connect would refuse, the check refuses without dialing
// (issue 20's cases, which config check once let through), naming the
// problem and never the password.
func TestCheck(t *testing.T) {
	providertest.CheckRefuses(t, CheckDatabase, "s3cret", providertest.Refusals{
		{"redis+sentinel://:s3cret@s1:26379", nil, "no master name"},
		{"redis+cluster://:s3cret@a:7000/3", nil, "takes no database number"},
		{"redis+cluster://:s3cret@", nil, "no host"},
		{"redis+cluster://a:7000,b:70x0", nil, `invalid port "70x0"`},
		{"redis://:s3cret@localhost:6379/abc", nil, "bad Redis URL"},
		{"redis://::1:6379", nil, "bad Redis URL"},
		{"redis//:s3cret@localhost:6379", nil, "bad Redis URL"},
		{"redis+cluster://a:7000", providers.Settings{"redis.key_prefix": "{app}"}, "redis.key_prefix \"{app}\" holds a brace"},
		{"redis+cluster://a:7000", providers.Settings{"redis.db": "2"}, "Redis Cluster has database 0 only"},
		{"redis://a:6379", providers.Settings{"redis.min_replicas": "-1"}, "redis.min_replicas is -1"},
		{"rediss://a:6379", providers.Settings{"database.tls.ca_file": "/no/such/ca.pem"}, "ca_file"},
	})
	for _, ok := range []string{"redis://:s3cret@localhost:6379/2", "redis://[::1]:6379", "redis+sentinel://s1,s2:26380?master=m", "redis+cluster://a:7000,b"} {
		if err := CheckCache(providers.CacheConfig{URL: ok, Settings: providers.Settings{"redis.db": "-1"}}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestTimeoutBounds: the timeouts refuse 0 (go-redis reads 0 as its own default and
// WAIT as forever), as
// the core timeouts do, rather than replacing it with the default unsaid;
// config check and serve both report it (e2e TestCheckAgreesWithServe).
func TestTimeoutBounds(t *testing.T) {
	providertest.CheckTimeoutsRefuseZero(t, Options, "redis.dial_timeout", "redis.read_timeout", "redis.write_timeout", "redis.min_replicas_timeout")
}
