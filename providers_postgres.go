//go:build postgres

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/postgres"
)

func init() {
	providers.RegisterDatabase("postgres", []string{"postgres", "postgresql"}, postgres.OpenDatabase, postgres.CheckDatabase)
	providers.DeclareOptions("postgres", postgres.Options...)
	buildinfo.MarkCompiled("postgres")
}
