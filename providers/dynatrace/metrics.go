package dynatrace

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	dtmetric "github.com/dynatrace-oss/dynatrace-metric-utils-go/metric"
	"github.com/dynatrace-oss/dynatrace-metric-utils-go/metric/dimensions"

	"github.com/navius-dev/navius/providers"
)

// Prefix starts every metric key.
const Prefix = "navius"

// MetricKey is the Dynatrace key of m: navius.<name>[_<unit>]. Counters get
// no suffix: the payload (count,delta=) says what they are.
func MetricKey(m providers.Metric) string {
	key := Prefix + "." + m.Name
	if m.Unit != "" && !strings.HasSuffix(key, "_"+m.Unit) {
		key += "_" + m.Unit
	}
	return key
}

// meter aggregates recorded values between pushes: counters as deltas,
// gauges as their last value, histograms as min/max/sum/count summaries.
type meter struct {
	defaults []dimensions.Dimension

	mu          sync.Mutex
	instruments []*instrument
}

func newMeter(service string) *meter {
	return &meter{defaults: []dimensions.Dimension{
		dimensions.NewDimension("dt.metrics.source", "navius"),
		dimensions.NewDimension("service.name", service),
	}}
}

type instrument struct {
	key    string
	kind   providers.MetricKind
	labels []string

	mu     sync.Mutex
	series map[string]*series
}

type series struct {
	labelValues []string
	// counter: delta since the last push; gauge: last value.
	value float64
	// histogram: observations since the last push.
	min, max, sum float64
	count         int64
	// fresh: recorded since the last push (gauges are sent while they
	// exist; counters and histograms only when fresh).
	fresh bool
}

func (m *meter) instrument(md providers.Metric) (*instrument, error) {
	switch md.Kind {
	case providers.Counter, providers.Gauge, providers.Histogram:
	default:
		return nil, fmt.Errorf("metric %s: unknown kind %v", md.Name, md.Kind)
	}
	in := &instrument{key: MetricKey(md), kind: md.Kind, labels: md.Labels, series: map[string]*series{}}
	probe, err := dtmetric.NewMetric(in.key, dtmetric.WithIntGaugeValue(0))
	if err == nil {
		_, err = probe.Serialize()
	}
	if err != nil {
		return nil, fmt.Errorf("metric key %q: %w", in.key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, other := range m.instruments {
		if other.key == in.key {
			return other, nil // the same metric declared again: share it
		}
	}
	m.instruments = append(m.instruments, in)
	return in, nil
}

// Record implements providers.Instrument.
func (in *instrument) Record(v float64, lv []string) {
	if math.IsNaN(v) || math.IsInf(v, 0) || len(lv) != len(in.labels) {
		return
	}
	id := strings.Join(lv, "\xff")
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.series[id]
	if s == nil {
		s = &series{labelValues: lv}
		in.series[id] = s
	}
	switch in.kind {
	case providers.Counter:
		if v >= 0 {
			s.value += v
		}
	case providers.Gauge:
		s.value = v
	case providers.Histogram:
		if s.count == 0 || v < s.min {
			s.min = v
		}
		if s.count == 0 || v > s.max {
			s.max = v
		}
		s.sum += v
		s.count++
	}
	s.fresh = true
}

// lines serializes what was recorded since the last call and resets the
// deltas. Lines that fail to serialize are left out.
func (m *meter) lines(now time.Time) []string {
	m.mu.Lock()
	insts := append([]*instrument(nil), m.instruments...)
	m.mu.Unlock()
	var out []string
	for _, in := range insts {
		out = append(out, in.lines(m.defaults, now)...)
	}
	return out
}

func (in *instrument) lines(defaults []dimensions.Dimension, now time.Time) []string {
	in.mu.Lock()
	type item struct {
		lv    []string
		value dtmetric.MetricOption
	}
	var items []item
	for _, s := range in.series {
		var opt dtmetric.MetricOption
		switch in.kind {
		case providers.Counter:
			if !s.fresh {
				continue
			}
			if s.value == math.Trunc(s.value) && math.Abs(s.value) < 1<<53 {
				opt = dtmetric.WithIntCounterValueDelta(int64(s.value))
			} else {
				opt = dtmetric.WithFloatCounterValueDelta(s.value)
			}
			s.value = 0
		case providers.Gauge:
			opt = dtmetric.WithFloatGaugeValue(s.value)
		case providers.Histogram:
			if !s.fresh || s.count == 0 {
				continue
			}
			opt = dtmetric.WithFloatSummaryValue(s.min, s.max, s.sum, s.count)
			s.min, s.max, s.sum, s.count = 0, 0, 0, 0
		}
		s.fresh = false
		items = append(items, item{s.labelValues, opt})
	}
	in.mu.Unlock()

	out := make([]string, 0, len(items))
	for _, it := range items {
		dims := append([]dimensions.Dimension(nil), defaults...)
		for i, l := range in.labels {
			if it.lv[i] != "" { // an empty dimension value says nothing
				dims = append(dims, dimensions.NewDimension(l, it.lv[i]))
			}
		}
		mt, err := dtmetric.NewMetric(in.key, dtmetric.WithDimensions(dimensions.NewNormalizedDimensionList(dims...)), it.value, dtmetric.WithTimestamp(now))
		if err != nil {
			continue
		}
		line, err := mt.Serialize()
		if err != nil {
			continue
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}
