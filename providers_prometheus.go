//go:build !custom || prometheus

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/prometheus"
)

func init() {
	providers.RegisterObserver("prometheus", prometheus.Open)
	providers.DeclareOptions("prometheus", prometheus.Options...)
	providers.DeclareCheck("prometheus", prometheus.Check)
	buildinfo.MarkCompiled("prometheus")
}
