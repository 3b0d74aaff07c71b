//go:build dynatrace

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/dynatrace"
)

func init() {
	providers.RegisterObserver("dynatrace", dynatrace.Open, dynatrace.Check)
	providers.DeclareOptions("dynatrace", dynatrace.Options...)
	buildinfo.MarkCompiled("dynatrace")
}
