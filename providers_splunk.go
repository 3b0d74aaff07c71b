//go:build splunk

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/splunk"
)

func init() {
	providers.RegisterLogSink(providers.LogSinkProvider{
		Name:    "splunk",
		Enabled: splunk.Enabled,
		Level:   splunk.Level,
		Open:    splunk.Open,
		Check:   splunk.Check,
	})
	providers.DeclareOptions("splunk", splunk.Options...)
	buildinfo.MarkCompiled("splunk")
}
