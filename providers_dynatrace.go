//go:build dynatrace

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/dynatrace"
)

func init() {
	providers.RegisterObserver("dynatrace", dynatrace.Open)
	providers.DeclareOptions("dynatrace", dynatrace.Options...)
	providers.DeclareCheck("dynatrace", dynatrace.Check)
	buildinfo.MarkCompiled("dynatrace")
}
