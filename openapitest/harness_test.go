package openapitest

import (
	"regexp"

	"github.com/navius-dev/navius/internal/harness"
)

var adminRE = regexp.MustCompile(`admin listener serving \S+ on (127\.0\.0\.1:\d+)`)

// adminURL is the admin listener navius serve logged, when pprof serves
// one.
func adminURL(p *harness.Proc) string {
	if m := adminRE.FindStringSubmatch(p.Logs()); m != nil {
		return "http://" + m[1]
	}
	return ""
}
