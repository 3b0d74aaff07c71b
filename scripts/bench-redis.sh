#!/usr/bin/env bash
# GET and PUT through navius with Redis as the database, next to what
# redis-benchmark gets from the same Redis in the same run: on one node, and
# on a Redis Cluster of three masters with a replica each (redis-benchmark
# --cluster). Keys: 10,000 of them, read at random; values 256 bytes; no
# local cache in navius, so every GET reaches Redis.
# Usage: scripts/bench-redis.sh [seconds] [single|cluster|both]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need wrk wrk
need redis-server redis-server
need redis-benchmark redis-tools
secs=${1:-10}
which=${2:-both}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# port: a free port whose cluster bus port (port+10000) is free too.
port() { python3 -c 'import socket,random
while True:
    p=random.randint(20000,45000)
    try:
        a=socket.socket(); a.bind(("127.0.0.1",p)); b=socket.socket(); b.bind(("127.0.0.1",p+10000)); a.close(); b.close(); print(p); break
    except OSError: pass'; }
redis() { # redis PORT [ARGS...]
  local p=$1; shift
  mkdir -p "$work/$p"
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$work/$p" \
    --logfile "$work/$p/log" --daemonize no "$@" >/dev/null &
  for _ in $(seq 400); do redis-cli -p "$p" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server on $p did not start:" >&2; tail -5 "$work/$p/log" >&2; exit 1
}

make -s build FEATURES=default,redis BIN=bin/navius-redis >/dev/null

# wrkline LABEL ARGS...: one result line from wrk (req/s, p50, p99).
wrkline() {
  local label=$1; shift
  wrk -t2 -c64 -d"${secs}s" --latency "$@" | awk -v l="$label" '
    /Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
    END {printf "%-34s %10.0f req/s   p50 %8s   p99 %8s\n", l, rps, p50, p99}'
}
# rbline ARGS...: GET and SET lines from redis-benchmark (--csv: rps, p50, p99).
rbline() {
  redis-benchmark "$@" -t get,set -n $((secs * 40000)) -c 64 -d 256 -r 10000 --csv 2>/dev/null |
    tr -d '"' | awk -F, '$1 == "GET" || $1 == "SET" {printf "%-34s %10.0f req/s   p50 %6sms   p99 %6sms\n", "redis-benchmark " $1, $2, $5, $7}'
}

# navius URL [serve flags...]: starts navius on url; sets np and pid.
navius() {
  local url=$1; shift
  np=$(port)
  (cd "$work" && exec "$OLDPWD/bin/navius-redis" serve --listen 127.0.0.1:"$np" --database-url "$url" \
    --cache-url none --log-access=false --log-level warn --database-max-connections 64 "$@") &
  pid=$!
  for _ in $(seq 200); do curl -sf 127.0.0.1:"$np"/readyz >/dev/null && return; sleep 0.05; done
  echo "navius on $url did not become ready" >&2; exit 1
}

bench() { # bench LABEL URL [redis-benchmark args...]
  local label=$1 url=$2; shift 2
  navius "$url"
  wrk -t1 -c16 -d3s -s bench/wrk/put-keys.lua http://127.0.0.1:"$np" >/dev/null # preload k000000..k009999
  echo "== $label"
  wrkline "navius GET (HGET, random key)" -s bench/wrk/get-random.lua http://127.0.0.1:"$np"
  wrkline "navius PUT (HSET + PUBLISH)" -s bench/wrk/put.lua http://127.0.0.1:"$np"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ "$label" != "one node" ]; then # every master has a replica: WAIT can be met
    navius "$url" --redis-min-replicas 1
    wrkline "navius PUT, redis.min_replicas=1" -s bench/wrk/put.lua http://127.0.0.1:"$np"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  fi
  rbline "$@"
}

if [ "$which" != cluster ]; then
  rp=$(port); redis "$rp"
  bench "one node" "redis://127.0.0.1:$rp/0" -p "$rp"
fi
if [ "$which" != single ]; then
  nodes=()
  for _ in 1 2 3 4 5 6; do
    p=$(port); redis "$p" --cluster-enabled yes --cluster-node-timeout 1000 --repl-diskless-sync-delay 0
    nodes+=("127.0.0.1:$p")
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  first=${nodes[0]#127.0.0.1:}
  for _ in $(seq 200); do
    [ "$(for n in "${nodes[@]}"; do redis-cli -p "${n#127.0.0.1:}" cluster info | grep -c 'cluster_state:ok'; done | paste -sd+ | bc)" = 6 ] && break
    sleep 0.1
  done
  seeds=$(IFS=,; echo "${nodes[*]}")
  bench "cluster: 3 masters, 1 replica each" "redis+cluster://$seeds" --cluster -p "$first"
fi
