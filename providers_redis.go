//go:build redis

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/redis"
)

func init() {
	providers.RegisterDatabase("redis", redis.Schemes, redis.OpenDatabase)
	providers.RegisterCache("redis", redis.Schemes, redis.OpenCache)
	providers.DeclareOptions("redis", redis.Options...)
	redis.SilenceClientLog()
	buildinfo.MarkCompiled("redis")
}
