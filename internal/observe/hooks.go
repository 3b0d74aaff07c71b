package observe

import (
	"github.com/sirupsen/logrus"

	"github.com/navius-dev/navius/internal/health"
	"github.com/navius-dev/navius/providers"
)

var healthStatuses = []providers.Status{providers.StatusUp, providers.StatusDown, providers.StatusUnknown}

// HealthObserver returns a function for health.Service.Observe that
// publishes each indicator's status (navius_health_status{indicator,status},
// 1 for the current status and 0 for the others) and check duration. It is
// nil when no metrics provider is active.
func (s *Service) HealthObserver() func(name string, c health.Component) {
	if !s.Metrics() {
		return nil
	}
	status := s.NewGauge(providers.Metric{Name: "health_status", Labels: []string{"indicator", "status"},
		Help: "Health of each indicator: 1 for its current status (UP, DOWN or UNKNOWN), 0 for the others."})
	duration := s.NewHistogram(providers.Metric{Name: "health_check_duration", Unit: "seconds", Labels: []string{"indicator"}, Buckets: StorageBuckets,
		Help: "Time each health indicator's check took."})
	return func(name string, c health.Component) {
		for _, st := range healthStatuses {
			v := 0.0
			if c.Status == st {
				v = 1
			}
			status.Set(v, name, string(st))
		}
		duration.Observe(c.Duration.Seconds(), name)
	}
}

// LogHook returns a logrus hook that counts log messages by level
// (navius_log_messages_total{level}); nil when no metrics provider is
// active. It sees only messages at or above the logger's level.
func (s *Service) LogHook() logrus.Hook {
	if !s.Metrics() {
		return nil
	}
	c := s.NewCounter(providers.Metric{Name: "log_messages", Labels: []string{"level"}, Help: "Log messages written, by level."})
	return &logHook{c: c}
}

type logHook struct{ c *Counter }

func (h *logHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *logHook) Fire(e *logrus.Entry) error {
	h.c.Add(1, e.Level.String())
	return nil
}
