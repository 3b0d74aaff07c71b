// Package health runs health indicators concurrently, each under a time
// limit, caches the report briefly, and renders it as Spring Boot Actuator
// JSON, the IETF health+json draft, or Kubernetes-style livez/readyz text.
package health

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/navius-dev/navius/providers"
)

// Service holds the indicators and the last report.
type Service struct {
	timeout  time.Duration
	cacheTTL time.Duration
	version  string

	mu         sync.Mutex
	indicators []providers.HealthIndicator
	last       *Report
	running    *checkRun // the run in flight, shared by concurrent callers
	// observe, when set, is told each indicator's outcome (for metrics).
	observe func(name string, r Component)
	// transition, when set, is told each indicator's transitions.
	transition func(Transition)
	states     map[string]*indicatorState // touched by one run at a time
}

// New returns a health service; timeout bounds each check, cacheTTL is how
// long a report is reused.
func New(timeout, cacheTTL time.Duration, version string) *Service {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Service{timeout: timeout, cacheTTL: cacheTTL, version: version}
}

// Add registers indicators.
func (s *Service) Add(ind ...providers.HealthIndicator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indicators = append(s.indicators, ind...)
	sort.SliceStable(s.indicators, func(i, j int) bool { return s.indicators[i].Order < s.indicators[j].Order })
	s.last = nil
}

// Observe sets a function told of every indicator's outcome.
func (s *Service) Observe(fn func(name string, c Component)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe = fn
}

// Component is one indicator's outcome in a report.
type Component struct {
	providers.HealthResult
	Critical      bool
	ComponentType string
	Metadata      map[string]string
	Duration      time.Duration
	Time          time.Time
}

// Report is the outcome of running every indicator.
type Report struct {
	// Status is DOWN when a critical indicator is not UP, else UP.
	Status     providers.Status
	Components map[string]Component
	// Order lists component names in indicator order.
	Order []string
	Time  time.Time
}

// downTTL bounds the reuse of a report with a failing indicator, so that
// recovery shows as soon as the cause is gone.
const downTTL = 250 * time.Millisecond

func (s *Service) reuseFor(r *Report) time.Duration {
	for _, c := range r.Components {
		if c.Status != providers.StatusUp {
			return min(s.cacheTTL, downTTL)
		}
	}
	return s.cacheTTL
}

// Check returns a report no older than the cache TTL (shorter while an
// indicator fails); concurrent callers share one run. A caller whose ctx
// ends first gets an UNKNOWN report at once; the run goes on for the
// others.
func (s *Service) Check(ctx context.Context) *Report {
	s.mu.Lock()
	if s.last != nil && time.Since(s.last.Time) < s.reuseFor(s.last) {
		r := s.last
		s.mu.Unlock()
		return r
	}
	run := s.running
	if run == nil {
		run = &checkRun{done: make(chan struct{})}
		s.running = run
		indicators := append([]providers.HealthIndicator(nil), s.indicators...)
		observe, transition := s.observe, s.transition
		// Detached from the caller's context, so that a caller that gives
		// up (a metrics push at the end of a shutdown's budget) neither
		// spoils the shared report nor waits for it.
		go func() {
			r := s.run(context.WithoutCancel(ctx), indicators, observe)
			s.transitions(r, transition)
			s.mu.Lock()
			s.last, s.running, run.report = r, nil, r
			close(run.done)
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()
	select {
	case <-run.done:
		return run.report
	case <-ctx.Done():
		return &Report{Status: providers.StatusUnknown, Components: map[string]Component{}, Time: time.Now()}
	}
}

// checkRun is a run of the indicators in progress; report is set when done
// is closed.
type checkRun struct {
	done   chan struct{}
	report *Report
}

func (s *Service) run(ctx context.Context, indicators []providers.HealthIndicator, observe func(string, Component)) *Report {
	r := &Report{Status: providers.StatusUp, Components: make(map[string]Component, len(indicators)), Time: time.Now()}
	results := make([]Component, len(indicators))
	var wg sync.WaitGroup
	for i, ind := range indicators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.runOne(ctx, ind)
		}()
	}
	wg.Wait()
	for i, ind := range indicators {
		c := results[i]
		r.Components[ind.Name] = c
		r.Order = append(r.Order, ind.Name)
		if ind.Critical && c.Status != providers.StatusUp {
			r.Status = providers.StatusDown
		}
		if observe != nil {
			observe(ind.Name, c)
		}
	}
	return r
}

// runOne runs a check under its time limit; a check that overruns is
// reported DOWN and left to finish on its own (its goroutine ends when the
// check honours its context).
func (s *Service) runOne(ctx context.Context, ind providers.HealthIndicator) (c Component) {
	timeout := s.timeout
	if ind.Timeout > 0 {
		timeout = ind.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	c = Component{Critical: ind.Critical, ComponentType: ind.ComponentType, Metadata: ind.Metadata, Time: start}
	done := make(chan providers.HealthResult, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- providers.HealthResult{Status: providers.StatusDown, Error: fmt.Sprintf("check panicked: %v", p)}
			}
		}()
		done <- ind.Check(ctx)
	}()
	select {
	case c.HealthResult = <-done:
	case <-ctx.Done():
		c.HealthResult = providers.HealthResult{Status: providers.StatusDown, Error: fmt.Sprintf("check did not finish within %s", timeout)}
	}
	if c.Status == "" {
		c.Status = providers.StatusUnknown
	}
	c.Duration = time.Since(start)
	return c
}

// Ready reports whether every critical indicator is UP, with the failing
// ones' names.
func (r *Report) Ready() (bool, []string) {
	var failing []string
	for _, name := range r.Order {
		if c := r.Components[name]; c.Critical && c.Status != providers.StatusUp {
			failing = append(failing, name)
		}
	}
	return len(failing) == 0, failing
}
