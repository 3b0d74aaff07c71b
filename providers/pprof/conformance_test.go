package pprof_test

import (
	"testing"

	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/pprof"
	"github.com/navius-dev/navius/providers/providertest"
)

func TestObserverConformance(t *testing.T) {
	providertest.RunObserverTests(t, providertest.ObserverHarness{
		Open: func(t *testing.T) providers.Observer {
			o, err := pprof.Open(t.Context(), providers.ObservabilityConfig{Settings: providers.Settings{"pprof.listen": "127.0.0.1:0"}})
			if err != nil {
				t.Fatal(err)
			}
			return o
		},
	})
}
