#!/usr/bin/env bash
# A private backend to try navius against, in one command: a PostgreSQL
# server, a Redis server, a Redis Sentinel setup or a Redis Cluster, on
# free loopback ports in a directory of its own (internal/devbackend, the
# code the tests run them with). It prints the NAVIUS_DATABASE_URL to use
# and runs until Ctrl-C; --detach runs it in the background instead.
#
#   scripts/dev-backend.sh postgres               # Ctrl-C stops it
#   eval "$(scripts/dev-backend.sh redis --detach)" # sets NAVIUS_DATABASE_URL here
#   scripts/dev-backend.sh stop redis
#   scripts/dev-backend.sh env postgres           # the export line of a running one
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/deps.sh
. scripts/deps.sh
case "${1:-}" in
postgres) need_postgres >&2 ;;
redis | sentinel) need redis-server redis-server >&2 ;;
cluster) need redis-server redis-server >&2 && need redis-cli redis-tools >&2 ;;
esac
go build -o bin/.navius-devbackend ./internal/devbackend
exec bin/.navius-devbackend "$@"
