package logging

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	if got := Cut("short", 10); got != "short" {
		t.Fatalf("Cut kept %q", got)
	}
	got := Cut(strings.Repeat("é", 100), 11) // 2 bytes each: the cut falls inside one
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "...(200 bytes)") || len(got) > 11+len("...(200 bytes)") {
		t.Fatalf("Cut = %q", got)
	}
}

// TestLinesAreCut: a long message, field or error is cut in every line,
// and an access line's path too.
func TestLinesAreCut(t *testing.T) {
	var out bytes.Buffer
	s, err := NewService(Options{Out: &out, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 100<<10)
	s.Logger().WithField("cursor", long).WithError(errors.New(long)).Warn(long)
	s.AccessLog().Log(Access{Path: "/" + long, Method: long, Remote: long})
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	if n := len(lines[0]); n > 4*MaxValue || n < 3*MaxValue {
		t.Fatalf("the warning is %d bytes: want three values of about %d", n, MaxValue)
	}
	if n := len(lines[1]); n > 4*MaxEcho+200 {
		t.Fatalf("the access line is %d bytes", n)
	}
}
