package providers

import (
	"context"
	"time"
)

// Status is a health status, as Spring Boot Actuator spells it.
type Status string

const (
	StatusUp      Status = "UP"
	StatusDown    Status = "DOWN"
	StatusUnknown Status = "UNKNOWN"
)

// HealthResult is what one health check found.
type HealthResult struct {
	Status  Status
	Details map[string]any
	// ObservedValue and ObservedUnit report a measurement, e.g. a round-trip
	// latency of 0.4 "ms" (IETF health draft: observedValue/observedUnit).
	ObservedValue any
	ObservedUnit  string
	// Error explains a DOWN or UNKNOWN status; it must carry no secret.
	Error string
}

// HealthIndicator checks one component.
type HealthIndicator struct {
	Name string
	// Order sorts indicators in reports; lower first.
	Order int
	// Critical indicators make the service DOWN (and not ready) when they fail.
	Critical bool
	// ComponentType is the IETF health draft's componentType, e.g.
	// "datastore", "component", "system".
	ComponentType string
	Metadata      map[string]string
	// Timeout overrides the health service's per-check timeout when > 0.
	Timeout time.Duration
	Check   func(ctx context.Context) HealthResult
}

// HealthContributor is implemented by providers that add their own health
// indicators beside the generic ones (e.g. a log sink's endpoint health).
type HealthContributor interface {
	HealthIndicators() []HealthIndicator
}
