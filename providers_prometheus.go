//go:build !custom || prometheus

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/prometheus"
)

func init() {
	providers.RegisterObserver("prometheus", prometheus.Open, prometheus.Check)
	providers.DeclareOptions("prometheus", prometheus.Options...)
	buildinfo.MarkCompiled("prometheus")
}
