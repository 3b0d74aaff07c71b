//go:build !custom || memory

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/memory"
)

func init() {
	providers.RegisterDatabase("memory", []string{"memory"}, memory.OpenDatabase, memory.CheckDatabase)
	providers.RegisterCache("memory", []string{"memory"}, memory.OpenCache, memory.CheckCache)
	providers.DeclareOptions("memory", memory.Options...)
	buildinfo.MarkCompiled("memory")
}
