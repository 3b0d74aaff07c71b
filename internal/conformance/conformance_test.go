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
		"navius-conformance/v2 suite=database impl=x cases=1 passed=1 digest=-",
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
	if SuiteTest(Logging) != "navius.logging.v1" {
		t.Errorf("SuiteTest = %q", SuiteTest(Logging))
	}
	for _, s := range Suites {
		if len(Required[s]) == 0 {
			t.Errorf("suite %s has no required cases", s)
		}
	}
}
