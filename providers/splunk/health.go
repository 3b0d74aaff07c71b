package splunk

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/navius-dev/navius/providers"
)

// HealthIndicators contributes the "splunk" indicator: HEC's
// /services/collector/health and the sink's counters. It is not critical:
// logging being down must not take the service down.
func (s *Sink) HealthIndicators() []providers.HealthIndicator {
	return []providers.HealthIndicator{{
		Name:          "splunk",
		Order:         50,
		Critical:      false,
		ComponentType: "component",
		Metadata:      map[string]string{"endpoint": providers.Redact(s.cfg.Endpoint)},
		Check:         s.checkHealth,
	}}
}

func (s *Sink) checkHealth(ctx context.Context) providers.HealthResult {
	st := s.Stats()
	details := map[string]any{
		"endpoint": providers.Redact(s.cfg.Endpoint), "queued": st.Queued, "dropped": st.Dropped,
		"sent": st.Sent, "failed": st.Failed, "retries": st.Retries,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.healthURL, nil)
	if err != nil {
		return providers.HealthResult{Status: providers.StatusDown, Details: details, Error: s.scrub(err.Error())}
	}
	req.Header.Set("Authorization", s.auth)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return providers.HealthResult{Status: providers.StatusDown, Details: details, Error: "HEC health check failed: " + s.scrub(err.Error())}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, code := parseReply(body)
	details["hec_code"] = code
	r := providers.HealthResult{Details: details, ObservedValue: float64(time.Since(start).Microseconds()) / 1000, ObservedUnit: "ms"}
	if resp.StatusCode == http.StatusOK && (code == 17 || code < 0) {
		r.Status = providers.StatusUp
		return r
	}
	r.Status = providers.StatusDown
	r.Error = "HEC health: " + describeStatus(resp.StatusCode, code)
	return r
}
