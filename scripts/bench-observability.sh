#!/usr/bin/env bash
# Measures the per-request cost of observability with wrk against real
# binaries: no observability (default,-prometheus), prometheus (default) and
# prometheus + dynatrace (default,dynatrace, pushing to a local sink that
# answers like Dynatrace). Each set-up is run ROUNDS times, interleaved.
#   scripts/bench-observability.sh [seconds per run] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need wrk wrk
need python3 python3
secs=${1:-10}
rounds=${2:-3}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

for spec in default,-prometheus default default,dynatrace; do
  make -s build FEATURES=$spec BIN="$tmp/navius-${spec//,/_}" >/dev/null
done

# A Dynatrace stand-in: 202 with a JSON reply for metric lines, 200 for OTLP.
cat >"$tmp/sink.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.path.endswith("/metrics/ingest"):
            lines = body.count(b"\n") + 1
            out = b'{"linesOk":%d,"linesInvalid":0,"error":null}' % lines
            self.send_response(202)
        else:
            out = b""
            self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$tmp/sink.py" 18499 & pids+=($!)

port=18480
run() { # name binary env...
  local name=$1 bin=$2; shift 2
  env "$@" "$bin" serve --listen 127.0.0.1:$port --database-url memory:// --log-access=false >"$tmp/$name.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -fs "127.0.0.1:$port/livez" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs -X PUT "127.0.0.1:$port/api/v1/bench/k" -d '{"kind":"cat"}'
  wrk -t2 -c16 -d1s "http://127.0.0.1:$port/api/v1/bench/k" >/dev/null # warm-up
  local out
  out=$(wrk -t2 -c16 -d"${secs}s" --latency "http://127.0.0.1:$port/api/v1/bench/k")
  kill -TERM $pid; wait $pid || true
  printf '%-22s %s req/s  p50 %s  p99 %s\n' "$name" \
    "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
    "$(awk '$1=="50%"{print $2}' <<<"$out")" "$(awk '$1=="99%"{print $2}' <<<"$out")"
}
for r in $(seq "$rounds"); do
  echo "-- round $r"
  run none "$tmp/navius-default_-prometheus"
  run prometheus "$tmp/navius-default"
  run prometheus+dynatrace "$tmp/navius-default_dynatrace" \
    NAVIUS_DYNATRACE_ENDPOINT=http://127.0.0.1:18499 NAVIUS_DYNATRACE_PUSH_INTERVAL=5s
done
