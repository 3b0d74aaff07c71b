# navius — `make run` builds the defaults and serves; `make test` runs every test.
# FEATURES picks what goes into the binary: a comma list of features plus the
# words default, all and none; -name removes one. See features.json. WITH adds
# provider modules from other repositories (docs/PROVIDERS.md).

FEATURES ?= default
BIN      ?= bin/navius
GO       ?= go
# WITH adds provider modules from outside the tree, space separated, as
# navius build --with takes them: MODULE[@VERSION][=LOCAL_DIR]. Each is
# verified by its conformance test first; NO_VERIFY=1 skips that.
WITH      ?=
NO_VERIFY ?=

BUILD_TOOL := bin/.navius-build

.PHONY: all build run test package image docs soak sizes size-check bench vet fmt clean features tags dev-postgres dev-redis dev-sentinel dev-cluster

all: build

# The build script is compiled first so that its exit code (2 for a bad
# FEATURES) reaches make unchanged.
$(BUILD_TOOL): FORCE
	@$(GO) build -o $(BUILD_TOOL) ./scripts/build
FORCE:

build: $(BUILD_TOOL)
	@$(BUILD_TOOL) -features "$(FEATURES)" -o $(BIN) $(foreach w,$(WITH),-with $(w)) $(if $(NO_VERIFY),-no-verify)

# Print the go build tags FEATURES resolves to.
tags: $(BUILD_TOOL)
	@$(BUILD_TOOL) -features "$(FEATURES)" -tags-only

# The builder's release archive and documentation for FEATURES, into DIST.
# A default build (which carries the builder) does the work, built by the
# build script as make build builds, so stamped with the tree's version:
# the archives, SHA256SUMS and docs are those navius package and navius
# docs give (a plain go build would be version "dev").
DIST ?= dist
TOOL := bin/.navius-tool
$(TOOL): $(BUILD_TOOL) FORCE
	@$(BUILD_TOOL) -features default -o $(TOOL) >/dev/null

package: $(TOOL)
	@$(TOOL) package --features "$(FEATURES)" --output "$(DIST)"

# The package plus a container image archive (docker load -i, podman load,
# skopeo): PLATFORM=linux/amd64,linux/arm64 for a multi-platform image,
# TAG=registry.example.com/navius:1.0 to name it.
image: $(TOOL)
	@$(TOOL) package --image --features "$(FEATURES)" --output "$(DIST)" $(if $(PLATFORM),--platform "$(PLATFORM)") $(if $(TAG),--tag "$(TAG)")

docs: $(TOOL)
	@$(TOOL) docs --features "$(FEATURES)" --output "$(DIST)/docs"

# LISTEN=host:port serves elsewhere than 127.0.0.1:8080 (NAVIUS_LISTEN
# does too); ARGS adds serve flags, e.g. ARGS="--log-format json".
LISTEN ?=
ARGS   ?=
run: build
	$(BIN) serve $(if $(LISTEN),--listen $(LISTEN)) $(ARGS)

# A private backend to try navius with, until Ctrl-C: it prints the
# NAVIUS_DATABASE_URL to export (scripts/dev-backend.sh; docs/DEVELOPMENT.md,
# "Private backends").
dev-postgres dev-redis dev-sentinel dev-cluster:
	@./scripts/dev-backend.sh $(@:dev-%=%)

features: build
	$(BIN) --features

test:
	@./scripts/test.sh

# Measure every feature's size impact into features.json and docs/SIZES.md,
# and refresh the size budgets' baselines.
# With WITH=..., it measures the features of those modules instead and only
# prints them (features.json describes navius's own features).
sizes:
	$(GO) run ./scripts/sizes $(foreach w,$(WITH),-with $(w))

# Fail when a budgeted build (size-budget.json) is over its cap, naming the
# feature and the module that grew.
size-check:
	$(GO) run ./scripts/sizes -check

# The benchmark suite: Go benchmarks (providers, services, the
# no-observability path; the whole request path as shipped on one P, so that
# the access log's writer goroutine counts too), then an HTTP load on
# loopback against the default build as shipped (access log on), the same
# with the access log off, and the floor program in the same run (ratios,
# p50/p99), startup to /readyz and idle RSS. BENCH_DURATION and BENCH_ROUNDS
# tune the load. bench/callgrind.sh counts instructions per request instead,
# which holds still on a busy machine.
BENCH_DURATION ?= 10s
BENCH_ROUNDS   ?= 3
bench:
	@. scripts/deps.sh && need wrk wrk
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./providers/... ./internal/store ./internal/observe
	$(GO) test -run '^$$' -bench 'RequestAsShipped' -benchmem -count 3 -cpu 1 ./internal/observe
	@$(MAKE) -s build BIN=bin/navius-bench >/dev/null
	@$(GO) build -trimpath -ldflags "-s -w" -o bin/floor ./bench/floor
	@ls -l bin/navius-bench bin/floor | awk '{print $$9": "$$5" bytes"}'
	@$(MAKE) -s build FEATURES=memory BIN=bin/navius-memory >/dev/null && ls -l bin/navius-memory | awk '{print $$9": "$$5" bytes"}'
	$(GO) run ./bench/httpbench -navius bin/navius-bench -floor bin/floor -duration $(BENCH_DURATION) -rounds $(BENCH_ROUNDS)
	$(GO) run ./bench/startup -bin bin/navius-bench -runs 30
	$(GO) run ./bench/startup -bin bin/navius-memory -runs 30
	$(GO) run ./bench/startup -bin bin/floor -runs 30 -plain

# Reliability soak: many SIGKILL/restart cycles under write load (every
# acknowledged write must survive), then a mixed load for SOAK_DURATION that
# samples RSS and goroutines (they must level off; no request may fail).
SOAK_CYCLES   ?= 20
SOAK_DURATION ?= 5m
soak:
	NAVIUS_DURABILITY_CYCLES=$(SOAK_CYCLES) $(GO) test -count=1 -run 'TestCrashDurability|TestGracefulStopUnderLoad' -v ./e2e/ | grep -E '^(=== RUN|---|ok|FAIL)|cycle|verified|lost'
	@$(MAKE) -s build BIN=bin/navius-soak >/dev/null
	$(GO) run ./bench/soak -bin bin/navius-soak -duration $(SOAK_DURATION)

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
