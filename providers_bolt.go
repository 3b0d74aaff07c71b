//go:build !custom || bolt

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/bolt"
)

func init() {
	providers.RegisterDatabase("bolt", []string{"bolt"}, bolt.OpenDatabase, bolt.CheckDatabase)
	providers.DeclareOptions("bolt", bolt.Options...)
	buildinfo.MarkCompiled("bolt")
}
