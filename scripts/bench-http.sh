#!/usr/bin/env bash
# HTTP load on loopback, navius against the floor program in the same run:
# GET of a cached key. Usage: scripts/bench-http.sh [FEATURES] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
features=${1:-default}
secs=${2:-10}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

make -s build FEATURES="$features" BIN=bin/navius-bench >/dev/null
go build -trimpath -ldflags "-s -w" -o bin/floor ./bench/floor

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
np=$(port); fp=$(port)
(cd "$work" && exec "$OLDPWD/bin/navius-bench" serve --listen 127.0.0.1:$np --log-access=false --log-level warn) &
bin/floor serve --listen 127.0.0.1:$fp &
for p in $np $fp; do
  for _ in $(seq 100); do curl -sf 127.0.0.1:$p/readyz >/dev/null && break; sleep 0.05; done
done
value=$(head -c 256 /dev/zero | tr '\0' 'v')
for p in $np $fp; do curl -sf -X PUT 127.0.0.1:$p/api/v1/bench/hot -d "$value"; curl -sf 127.0.0.1:$p/api/v1/bench/hot >/dev/null; done

rps() { wrk -t2 -c64 -d${secs}s --latency "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
echo "== navius ($features) GET cache hit"; n=$(rps http://127.0.0.1:$np/api/v1/bench/hot)
echo "== floor GET"; f=$(rps http://127.0.0.1:$fp/api/v1/bench/hot)
python3 -c "print(f'navius {float(\"$n\"):.0f} req/s, floor {float(\"$f\"):.0f} req/s, ratio {float(\"$n\")/float(\"$f\"):.3f}')"
