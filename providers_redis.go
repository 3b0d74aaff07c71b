//go:build redis

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/redis"
)

func init() {
	providers.RegisterDatabase("redis", redis.Schemes, redis.OpenDatabase, redis.CheckDatabase)
	providers.RegisterCache("redis", redis.Schemes, redis.OpenCache, redis.CheckCache)
	providers.DeclareOptions("redis", redis.Options...)
	redis.SilenceClientLog()
	buildinfo.MarkCompiled("redis")
}
