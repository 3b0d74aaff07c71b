#!/usr/bin/env bash
# Instructions per operation of one Go benchmark, counted by callgrind: a
# figure that stays put however busy the machine is, unlike ns/op. The
# benchmark runs twice (N1 and N2 iterations, one P) and the difference is
# divided by N2-N1, so set-up and the test binary's start cancel out.
# Everything the process executes counts: the goroutines that work off the
# request path, the garbage collector and the runtime (not the kernel).
#
#   bench/callgrind.sh ./internal/observe 'RequestAsShipped/access-log=on$' [N1 N2]
set -euo pipefail
pkg=${1:?package}; bench=${2:?benchmark regexp}; n1=${3:-5000}; n2=${4:-15000}
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install -y valgrind" >&2; exit 1; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/bench.test" "$pkg"
ir() {
  # Callgrind cannot follow Go's asynchronous preemption signals.
  GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$1" \
    "$dir/bench.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$1x" -test.cpu 1 2>&1 >/dev/null |
    awk '/Collected :/ {print $NF}'
}
a=$(ir "$n1"); b=$(ir "$n2")
echo "$bench: $(( (b - a) / (n2 - n1) )) instructions/op (callgrind, $n1 vs $n2 iterations)"
