//go:build redis

package main

import (
	"github.com/navius-dev/navius/internal/buildinfo"
	"github.com/navius-dev/navius/providers"
	"github.com/navius-dev/navius/providers/redis"
)

func init() {
	providers.RegisterDatabase("redis", []string{"redis", "rediss"}, redis.OpenDatabase)
	providers.RegisterCache("redis", []string{"redis", "rediss"}, redis.OpenCache)
	providers.DeclareOptions("redis", redis.Options...)
	redis.SilenceClientLog()
	buildinfo.MarkCompiled("redis")
}
