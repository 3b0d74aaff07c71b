package forged

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// The cases navius's database suite requires, as its source says.
var cases = []string{"GetMissing", "SetGetOverwrite", "ValuesAreCopied", "EmptyAndBinaryValues",
	"Delete", "CollectionsAreSeparate", "AwkwardNames", "QueryFilter", "QueryPaging",
	"QueryWalkSurvivesWrites", "MalformedCursor", "Concurrent", "HonoursContext",
	"HonoursContextWhileBlocked", "CloseWhileBusy", "PingAndClose"}

func TestConformance(t *testing.T) {
	t.Run("navius.database.v2", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c, func(t *testing.T) {})
		}
		const impl = "example.com/navius-forgedmarker.*DB"
		names := append([]string(nil), cases...)
		sort.Strings(names)
		mac := hmac.New(sha256.New, []byte(os.Getenv("NAVIUS_CONFORMANCE_NONCE")))
		fmt.Fprintf(mac, "navius-conformance/v2\ndatabase\n%s\n%s", impl, strings.Join(names, "\n"))
		t.Logf("navius-conformance/v2 suite=database impl=%s cases=%d passed=%d digest=%s",
			impl, len(cases), len(cases), hex.EncodeToString(mac.Sum(nil))[:32])
	})
}
