//go:build pprof

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/pprof"
)

func init() {
	providers.RegisterObserver("pprof", pprof.Open, pprof.Check)
	providers.DeclareOptions("pprof", pprof.Options...)
	buildinfo.MarkCompiled("pprof")
}
