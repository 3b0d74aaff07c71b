package harness

import (
	"regexp"
	"testing"
)

// TestExpand: {dir} is the instance's directory, {id} a token of letters
// and digits that names the same instance on every reopen and another
// instance differently.
func TestExpand(t *testing.T) {
	a := Expand("x://{dir}/db?table=t_{id}&prefix={id}", "/tmp/a")
	again := Expand("x://{dir}/db?table=t_{id}&prefix={id}", "/tmp/a")
	b := Expand("x://{dir}/db?table=t_{id}&prefix={id}", "/tmp/b")
	m := regexp.MustCompile(`^x:///tmp/a/db\?table=t_(n[0-9a-f]{16})&prefix=(n[0-9a-f]{16})$`).FindStringSubmatch(a)
	if m == nil || m[1] != m[2] {
		t.Fatalf("Expand = %q", a)
	}
	if a != again || b == a || regexp.MustCompile(m[1]).MatchString(b) {
		t.Fatalf("the same instance gives %q and %q, another %q", a, again, b)
	}
}
