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

echo "== interop (real OTLP receiver, in its own module)"
(cd interop && go vet ./... && go test -count=1 -timeout 20m ./...)
