#!/usr/bin/env bash
# Runs every navius test. Installs what the tests need when it is missing
# (system packages from Debian), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/deps.sh
. scripts/deps.sh
ensure_tools

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test (race detector)"
go test -race -count=1 -timeout 20m ./...

echo "== size budgets"
go run ./scripts/sizes -check 2>/dev/null

# Each fuzz target runs briefly on top of its committed seed corpus
# (testdata/fuzz); FUZZTIME=2m make test fuzzes longer.
echo "== fuzz (${FUZZTIME:-10s} per target)"
fuzzlog=$(mktemp)
for target in \
  "FuzzParse ./internal/manifest" \
  "FuzzResolve ./internal/manifest" \
  "FuzzConfigFile ./internal/config" \
  "FuzzAPI ./internal/server" \
  "FuzzBatch ./internal/server" \
  "FuzzAccessLine ./internal/logging"; do
  set -- $target
  fuzz() { go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-10s}" "$2" >"$fuzzlog" 2>&1; }
  # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as a
  # failure ("context deadline exceeded", no input saved; golang/go#75804,
  # fixed in Go 1.27): such a run is repeated once.
  rc=0
  fuzz "$1" "$2" || rc=$?
  if [ "$rc" -ne 0 ] && grep -q '^    context deadline exceeded$' "$fuzzlog" &&
    [ -z "$(git status --porcelain -- "$2/testdata/fuzz/$1" 2>/dev/null)" ]; then
    echo "again $1 (fuzz deadline race, golang/go#75804)"
    rc=0
    fuzz "$1" "$2" || rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$fuzzlog" >&2
    echo "fuzz $1 in $2 failed (a failing input is saved under $2/testdata/fuzz/$1); rerun: go test -run '^$1\$' $2" >&2
    rm -f "$fuzzlog"
    exit 1
  fi
  echo "ok   $1"
done
rm -f "$fuzzlog"

# examples/fsdb is a provider in a module of its own (its own go.mod, so the
# steps above never compile it): its unit tests and its conformance test,
# which runs navius's database suite against this tree (replace => ../..).
echo "== examples/fsdb module: go vet, go test"
(cd examples/fsdb && go vet ./... && go test -race -count=1 ./...)

# interop/ is a separate test-only Go module (its own go.mod) that runs real
# implementations of vendor protocols in-process, e.g. the OpenTelemetry
# Collector's Splunk HEC and OTLP receivers. Its dependencies stay out of navius's go.mod.
echo "== interop module (real HEC and OTLP receivers): go vet, go test"
(cd interop && go vet ./... && go test -count=1 -timeout 20m ./...)

# browsertest/ is a test-only Go module too (chromedp stays out of navius's
# go.mod): navius builder serve's page in a real headless Chromium, and its
# API (limits, cache, module verification). It adds about a minute.
echo "== browsertest module (the builder's page in headless Chromium): go vet, go test"
(cd browsertest && go vet ./... && go test -count=1 -timeout 20m ./...)

# openapitest/ is a test-only Go module too: it checks the OpenAPI document
# of real navius binaries with a real validator (kin-openapi), whose
# dependencies stay out of navius's go.mod.
echo "== openapitest module (OpenAPI 3.1 validator): go vet, go test"
(cd openapitest && go vet ./... && go test -count=1 -timeout 10m ./...)
