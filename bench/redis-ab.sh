#!/usr/bin/env bash
# A/B: GET (cache off) and PUT through navius on one-node Redis, two
# binaries alternating round by round on one redis-server.
# Usage: bench/redis-ab.sh SECONDS ROUNDS BIN_A BIN_B (needs wrk, redis-server,
# redis-cli, python3); prints req/s, p50/p99 and the CPU time navius and
# Redis spent per request, from /proc.
set -euo pipefail
secs=$1 rounds=$2; bins=("$3" "$4")
lua=$(cd "$(dirname "$0")/wrk" && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rp=$(port)
redis-server --port "$rp" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" >/dev/null &
for _ in $(seq 200); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.05; done
rpid=$!
cpu() { awk '{print $14+$15}' /proc/$1/stat; } # utime+stime in clock ticks
tck=$(getconf CLK_TCK)
wrkline() { local label=$1; shift
  local n0 r0 out; n0=$(cpu $pid); r0=$(cpu $rpid)
  out=$(wrk -t2 -c64 -d"${secs}s" --latency "$@")
  local n1 r1; n1=$(cpu $pid); r1=$(cpu $rpid)
  echo "$out" | awk -v l="$label" -v dn=$((n1-n0)) -v dr=$((r1-r0)) -v tck=$tck '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
    /requests in/ {n=$1}
    END {printf "%-28s %8.0f req/s  p50 %7s  p99 %7s  navius %5.1f us/req  redis %5.1f us/req\n", l, rps, p50, p99, dn/tck*1e6/n, dr/tck*1e6/n}'; }
for r in $(seq "$rounds"); do
  for i in 0 1; do
    bin=${bins[$i]}; np=$(port)
    (cd "$work" && exec "$bin" serve --listen 127.0.0.1:"$np" --database-url "redis://127.0.0.1:$rp/$i" \
      --cache-url none --log-access=false --log-level warn --database-max-connections 64) &
    pid=$!
    for _ in $(seq 200); do curl -sf 127.0.0.1:"$np"/readyz >/dev/null && break; sleep 0.05; done
    [ "$r" = 1 ] && wrk -t1 -c16 -d3s -s $lua/put-keys.lua http://127.0.0.1:"$np" >/dev/null
    wrkline "round $r $(basename "$bin") GET" -s $lua/get-random.lua http://127.0.0.1:"$np"
    wrkline "round $r $(basename "$bin") PUT" -s $lua/put.lua http://127.0.0.1:"$np"
    wrkline "round $r $(basename "$bin") PUT create-only" -s $lua/put-create.lua http://127.0.0.1:"$np"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
