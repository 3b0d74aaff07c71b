package pgtest

import (
	"context"
	"testing"
	"time"
)

// TestServerLifecycle: the server answers, keeps its data across a stop
// and a crash, and a paused server answers nothing until resumed.
func TestServerLifecycle(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	s.MustExec(t, "postgres", "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	check := func(when string) {
		t.Helper()
		var v int
		if err := s.QueryValue(ctx, "postgres", &v, "SELECT v FROM kept"); err != nil || v != 42 {
			t.Fatalf("%s: %d %v", when, v, err)
		}
	}
	check("started")
	s.Stop()
	if err := s.Exec(ctx, "postgres", "SELECT 1"); err == nil {
		t.Fatal("a stopped server answered")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	check("after a stop")
	s.Crash()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	check("after a crash")

	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := s.Exec(pctx, "postgres", "SELECT 1")
	cancel()
	if err == nil {
		t.Fatal("a paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	check("resumed")
}
