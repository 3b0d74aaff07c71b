package prometheus_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/prometheus"
	"github.com/navius-dev/navius/providers/providertest"
)

func TestObserverConformance(t *testing.T) {
	providertest.RunObserverTests(t, providertest.ObserverHarness{
		Open: func(t *testing.T) providers.Observer {
			o, err := prometheus.Open(t.Context(), providers.ObservabilityConfig{
				Settings: providers.Settings{"prometheus.enabled": "true", "prometheus.path": "/metrics"},
			})
			if err != nil {
				t.Fatal(err)
			}
			return o
		},
		// What a scraper sees: the text exposition served on /metrics.
		Metric: func(t *testing.T, o providers.Observer, m providers.Metric, labels []string) (providertest.MetricValue, bool) {
			srv := httptest.NewServer(o.(providers.HTTPContributor).Handlers()["GET /metrics"])
			defer srv.Close()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			parser := expfmt.NewTextParser(model.UTF8Validation)
			families, err := parser.TextToMetricFamilies(resp.Body)
			if err != nil {
				t.Fatalf("/metrics is not in the text exposition format: %v", err)
			}
			fam := families[prometheus.MetricName(m)]
			if fam == nil {
				return providertest.MetricValue{}, false
			}
			for _, s := range fam.GetMetric() {
				if !sameLabels(s.GetLabel(), m.Labels, labels) {
					continue
				}
				switch {
				case s.Counter != nil:
					return providertest.MetricValue{Value: s.Counter.GetValue()}, true
				case s.Gauge != nil:
					return providertest.MetricValue{Value: s.Gauge.GetValue()}, true
				case s.Histogram != nil:
					return providertest.MetricValue{Value: s.Histogram.GetSampleSum(), Count: s.Histogram.GetSampleCount()}, true
				}
			}
			return providertest.MetricValue{}, false
		},
	})
}

func sameLabels(got []*dto.LabelPair, names, values []string) bool {
	if len(got) != len(names) {
		return false
	}
	want := map[string]string{}
	for i, n := range names {
		want[n] = values[i]
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}
