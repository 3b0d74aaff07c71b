//go:build !custom || builder

package main

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/navius-dev/navius/internal/builder"
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/internal/cli"
)

func init() {
	cli.Register(func(env *cli.Env) []*ucli.Command { return builder.Commands(env) })
	buildinfo.MarkCompiled("builder")
}
