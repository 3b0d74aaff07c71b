# navius — `make run` builds the defaults and serves; `make test` runs every test.
# FEATURES picks what goes into the binary: a comma list of features plus the
# words default, all and none; -name removes one. See features.json.

FEATURES ?= default
BIN      ?= bin/navius
GO       ?= go

BUILD_TOOL := bin/.navius-build

.PHONY: all build run test test-unit test-e2e vet fmt clean features tags

all: build

# The build script is compiled first so that its exit code (2 for a bad
# FEATURES) reaches make unchanged.
$(BUILD_TOOL): FORCE
	@$(GO) build -o $(BUILD_TOOL) ./scripts/build
FORCE:

build: $(BUILD_TOOL)
	@$(BUILD_TOOL) -features "$(FEATURES)" -o $(BIN)

# Print the go build tags FEATURES resolves to.
tags: $(BUILD_TOOL)
	@$(BUILD_TOOL) -features "$(FEATURES)" -tags-only

run: build
	$(BIN) serve

features: build
	$(BIN) --features

test:
	@./scripts/test.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin dist
