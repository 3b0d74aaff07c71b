#!/usr/bin/env bash
# GET of one cached key (a cache hit) through navius over plain HTTP and over
# TLS, with wrk, in the same run: with keep-alive (the cost of encryption),
# and with a new connection per request (Connection: close: the cost of a
# handshake, which wrk resumes with the session of the connection before,
# since it clears and reuses its SSL object). openssl s_client -reconnect
# shows that navius resumes sessions. Prints each line and the TLS/plain
# ratios.
# Usage: scripts/bench-tls.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need wrk wrk
need openssl openssl
secs=${1:-10}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

make -s build BIN=bin/navius-tls >/dev/null

# A CA and a certificate for 127.0.0.1 (ECDSA P-256, as most ACME issuers give).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$work/ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/ext" -out "$work/tls.crt" 2>/dev/null

# navius [serve flags...]: starts navius on a free port; sets addr and pid.
navius() {
  (cd "$work" && exec "$OLDPWD/bin/navius-tls" serve --listen 127.0.0.1:0 --log-format json \
    --log-access=false --database-url memory:// "$@" 2>"$work/log") &
  pid=$!
  addr=
  for _ in $(seq 200); do
    addr=$(sed -n 's/.*"addr":"\([^"]*\)".*"navius is serving".*/\1/p; s/.*"msg":"navius is serving".*"addr":"\([^"]*\)".*/\1/p' "$work/log" | head -1)
    [ -n "$addr" ] && return
    sleep 0.05
  done
  echo "navius did not start:" >&2; cat "$work/log" >&2; exit 1
}

# wrkline LABEL URL [wrk args...]: one result line (req/s, p50, p99); sets rps.
wrkline() {
  local label=$1 url=$2; shift 2
  local out
  out=$(wrk -t2 -c32 -d"${secs}s" --latency "$@" "$url")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  awk -v l="$label" '/Requests\/sec/ {rps=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} /Non-2xx|Socket errors/ {err=err " " $0}
    END {printf "%-44s %10.0f req/s   p50 %8s   p99 %8s%s\n", l, rps, p50, p99, err}' <<<"$out"
}

run() { # run SCHEME: the two loads against a running navius
  local scheme=$1
  curl -sf --cacert "$work/ca.pem" -X PUT --data-binary 'a value of some 40 bytes, cached on read' "$scheme://$addr/api/v1/bench/hot" >/dev/null
  curl -sf --cacert "$work/ca.pem" "$scheme://$addr/api/v1/bench/hot" >/dev/null # now cached
  wrkline "$scheme GET cache hit, keep-alive" "$scheme://$addr/api/v1/bench/hot"
  keep=$rps
  wrkline "$scheme GET cache hit, a connection each" "$scheme://$addr/api/v1/bench/hot" -H "Connection: close"
  close=$rps
}

echo "== navius $(bin/navius-tls version | cut -d' ' -f2), $(nproc) CPUs, ${secs}s per load, wrk -t2 -c32"
navius
run http
plain_keep=$keep plain_close=$close
kill "$pid"; wait "$pid" 2>/dev/null || true

navius --server-tls-cert-file "$work/tls.crt" --server-tls-key-file "$work/tls.key"
echo "session resumption (openssl s_client: TLS 1.2 with -reconnect, TLS 1.3 with the ticket of a first session):"
echo | openssl s_client -connect "$addr" -CAfile "$work/ca.pem" -tls1_2 -reconnect 2>/dev/null | grep -E '^(New|Reused),' | sort | uniq -c | sed 's/^/  /'
openssl s_client -connect "$addr" -CAfile "$work/ca.pem" -sess_out "$work/sess" < <(sleep 1) >/dev/null 2>&1
openssl s_client -connect "$addr" -CAfile "$work/ca.pem" -sess_in "$work/sess" </dev/null 2>/dev/null | grep -E '^(New|Reused),' | sed 's/^/        /'
run https
kill "$pid"; wait "$pid" 2>/dev/null || true
awk -v a="$keep" -v b="$plain_keep" -v c="$close" -v d="$plain_close" 'BEGIN {
  printf "TLS/plain: keep-alive %.2f, a connection each %.2f\n", a / b, c / d }'
