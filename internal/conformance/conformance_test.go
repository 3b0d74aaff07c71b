package conformance

import "testing"

func TestMarkerRoundTrip(t *testing.T) {
	m := Marker{Suite: Database, Impl: "example.com/x.*DB", Cases: 14, Passed: 13, Digest: Digest("n", Database, "example.com/x.*DB", []string{"b", "a"})}
	line := "    suite.go:81: " + m.String() + "\n"
	got, ok := ParseMarker(line)
	if !ok || got != m {
		t.Fatalf("ParseMarker(%q) = %+v, %v; want %+v", line, got, ok, m)
	}
	for _, bad := range []string{
		"navius-conformance/v1",
		"navius-conformance/v3 suite=database impl=x cases=1 passed=1 digest=-",
		"navius-conformance/v1 suite=database impl=x cases=one passed=1 digest=-",
		"navius-conformance/v1 suite=database impl=x cases=1 passed=1",
		"navius-conformance/v1 suite=database impl=x cases=1 passed=1 digest=- extra=1",
		"navius-conformance/v1 suite=database impl=x cases=1 passed=1 digest=- stray",
	} {
		if m, ok := ParseMarker(bad); ok {
			t.Errorf("ParseMarker(%q) = %+v, want no marker", bad, m)
		}
	}
}

// A marker of a v1 suite still parses.
func TestMarkerV1(t *testing.T) {
	m, ok := ParseMarker("    suite.go:81: navius-conformance/v1 suite=database impl=x.*DB cases=13 passed=13 digest=-")
	if !ok || m.Suite != Database || m.Cases != 13 {
		t.Fatalf("a v1 marker: %+v, %v", m, ok)
	}
}

func TestRequiredDatabase(t *testing.T) {
	core := RequiredDatabase(DatabaseProvider{})
	if len(core) != len(Required[Database]) {
		t.Fatalf("a plain database: %v", core)
	}
	all := RequiredDatabase(DatabaseProvider{Conditional: true, Expiry: true, Batch: true, Storage: true, Durable: true})
	for _, want := range []string{"ConditionalCompareAndSwap", "ExpirySweep", "BatchSeenWhole", "BatchTTL", "Durable", "ExpiryDurable", "CrashDurable", "HonoursContext", "HonoursContextWhileBlocked"} {
		if !contains(all, want) {
			t.Errorf("a database with every capability, storage and durability is not required to pass %s: %v", want, all)
		}
	}
	if got := RequiredDatabase(DatabaseProvider{Batch: true}); contains(got, "BatchTTL") || !contains(got, "BatchAllOrNothing") {
		t.Errorf("batches without expiry: %v", got)
	}
	if got := Missing([]string{"a", "b", "c"}, []string{"b"}); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Errorf("Missing = %v", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestDigest(t *testing.T) {
	d := Digest("nonce", Database, "x.*DB", []string{"a", "b"})
	if len(d) != 32 || d != Digest("nonce", Database, "x.*DB", []string{"b", "a"}) {
		t.Fatalf("digest %q depends on the order of the cases", d)
	}
	for name, other := range map[string]string{
		"nonce": Digest("other", Database, "x.*DB", []string{"a", "b"}),
		"suite": Digest("nonce", Cache, "x.*DB", []string{"a", "b"}),
		"impl":  Digest("nonce", Database, "y.*DB", []string{"a", "b"}),
		"cases": Digest("nonce", Database, "x.*DB", []string{"a"}),
	} {
		if other == d {
			t.Errorf("changing the %s leaves the digest unchanged", name)
		}
	}
	if Digest("", Database, "x", nil) != "-" {
		t.Error("without a nonce the digest is not -")
	}
	if SuiteTest(Logging) != "navius.logging.v2" {
		t.Errorf("SuiteTest = %q", SuiteTest(Logging))
	}
	for _, s := range Suites {
		if len(Required[s]) == 0 {
			t.Errorf("suite %s has no required cases", s)
		}
	}
}
