package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPayloads: announce and parse agree for any names, recognise the
// instance's own changes, and ignore payloads they did not write.
func TestPayloads(t *testing.T) {
	f := newFeed(mustConnConfig(t), "navius_kv", 0)
	other := newFeed(mustConnConfig(t), "navius_kv", 0)
	for _, n := range [][2]string{{"pets", "tom"}, {"a b", " c "}, {"12", "3 4"}, {"c", ""}, {"ü", "ß:@~"}} {
		ch, p := other.announce(n[0], n[1])
		coll, key, expired, own, ok := f.parse(p)
		if ch != "navius_kv" || !ok || own || expired || coll != n[0] || key != n[1] {
			t.Errorf("%q: parsed %q %q expired=%v own=%v ok=%v", n, coll, key, expired, own, ok)
		}
		if _, _, _, own, _ := other.parse(p); !own {
			t.Errorf("%q: not recognised as its own", n)
		}
		coll, key, expired, _, ok = f.parse(other.payload(n[0], n[1], true))
		if !ok || !expired || coll != n[0] || key != n[1] {
			t.Errorf("%q expired: parsed %q %q expired=%v ok=%v", n, coll, key, expired, ok)
		}
	}
	_, p := other.announce("c", strings.Repeat("k", maxPayload))
	if coll, _, _, _, ok := f.parse(p); !ok || coll != "" || len(p) > maxPayload {
		t.Errorf("a change too long to name: %q ok=%v (payload %d bytes)", coll, ok, len(p))
	}
	for _, junk := range []string{"", "noid", "id x c", "id -1 c", "id 99 short", "id expired x c", "id expired"} {
		if _, _, _, _, ok := f.parse(junk); ok {
			t.Errorf("payload %q accepted", junk)
		}
	}
}

func mustConnConfig(t *testing.T) *pgx.ConnConfig {
	t.Helper()
	c, err := pgx.ParseConfig("postgres://u@h/db")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
