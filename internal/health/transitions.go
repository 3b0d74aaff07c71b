package health

import (
	"context"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Transition is an indicator's change between UP and not UP.
type Transition struct {
	Name string
	// Up: it came back; else it went down.
	Up bool
	// Error is why it is down (when it went down).
	Error string
	// DownFor is how long it was down (when it came back).
	DownFor time.Duration
}

// indicatorState is what the service remembers of an indicator between
// runs: whether it was UP, and since when it was not.
type indicatorState struct {
	up        bool
	downSince time.Time
}

// OnTransition sets fn, told once per transition of each indicator: when
// it goes down (also when it is down at the first check), and when it
// comes back, with how long it was down. Checks that keep failing are not
// told again, so that a log of transitions holds one line per outage.
func (s *Service) OnTransition(fn func(Transition)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transition = fn
}

// transitions compares a run's outcomes with the previous run's. Runs do
// not overlap (Check shares one), so the states need no lock of their own.
func (s *Service) transitions(r *Report, fn func(Transition)) {
	if s.states == nil {
		s.states = map[string]*indicatorState{}
	}
	for _, name := range r.Order {
		c := r.Components[name]
		up := c.Status == providers.StatusUp
		st, seen := s.states[name]
		if !seen {
			st = &indicatorState{up: true}
			s.states[name] = st
		}
		switch {
		case st.up && !up:
			st.up, st.downSince = false, c.Time
			if fn != nil {
				fn(Transition{Name: name, Error: c.Error})
			}
		case !st.up && up:
			st.up = true
			if fn != nil {
				fn(Transition{Name: name, Up: true, DownFor: c.Time.Sub(st.downSince)})
			}
		}
	}
}

// Watch runs the indicators every interval until ctx ends, so that
// transitions are seen, and reports are fresh, when no probe asks.
func (s *Service) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Check(ctx)
		}
	}
}
