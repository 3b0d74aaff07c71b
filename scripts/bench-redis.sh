#!/usr/bin/env bash
# GET and PUT through navius with Redis as the database, next to what
# redis-benchmark gets from the same redis-server in the same run.
# Usage: scripts/bench-redis.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need wrk wrk
need redis-server redis-server
secs=${1:-10}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rp=$(port); np=$(port)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize no >/dev/null &
make -s build FEATURES=default,redis BIN=bin/navius-redis >/dev/null
for _ in $(seq 50); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.1; done
(cd "$work" && exec "$OLDPWD/bin/navius-redis" serve --listen 127.0.0.1:$np --database-url redis://127.0.0.1:$rp/0 \
  --cache-url none --log-access=false --log-level warn --database-max-connections 64) &
for _ in $(seq 100); do curl -sf 127.0.0.1:$np/readyz >/dev/null && break; sleep 0.05; done
curl -sf -X PUT 127.0.0.1:$np/api/v1/bench/k000042 --data-binary "$(head -c 256 /dev/zero | tr '\0' v)"

echo "== navius GET (Redis database, no cache: every GET is an HGET)"
wrk -t2 -c64 -d${secs}s --latency http://127.0.0.1:$np/api/v1/bench/k000042 | grep -E 'Requests/sec|50%|99%'
echo "== navius PUT (HSET + PUBLISH in MULTI/EXEC)"
wrk -t2 -c64 -d${secs}s --latency -s bench/wrk/put.lua http://127.0.0.1:$np | grep -E 'Requests/sec|50%|99%'
echo "== redis-benchmark, same server: GET and SET, 64 clients, 256-byte values, no pipelining"
redis-benchmark -p "$rp" -t get,set -n 400000 -c 64 -d 256 -q | tr "\r" "\n" | grep "requests per second"
