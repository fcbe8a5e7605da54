# Charta's tasks. `make help` lists them.
GO        ?= go
BIN       := bin/charta
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/charta/charta/internal/version.Version=$(VERSION)
TOOLS     := $(CURDIR)/bin/tools
FUZZ_TIME ?= 30s
SEEDS     ?= 10
NODES     ?= 3
MIX       ?=
DEV_DIR   ?= .charta-dev

.DEFAULT_GOAL := help
.PHONY: help build test test-race verify fuzz chaos bench demo docker clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/charta (static, with version info)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/charta

test: build ## Run every test with the race detector (what CI runs)
	CHARTA_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 18m ./...

test-race: test ## Same as test: the suite always runs with -race

verify: ## gofmt, go vet, staticcheck, import rules, go mod tidy
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(TOOLS)/staticcheck ./...
	scripts/check-deps.sh
	@cp go.mod /tmp/charta-go.mod.bak && cp go.sum /tmp/charta-go.sum.bak && $(GO) mod tidy && \
	  if ! cmp -s go.mod /tmp/charta-go.mod.bak || ! cmp -s go.sum /tmp/charta-go.sum.bak; then \
	    cp /tmp/charta-go.mod.bak go.mod; cp /tmp/charta-go.sum.bak go.sum; echo "go mod tidy would change go.mod/go.sum"; exit 1; fi

fuzz: ## Run every fuzz target for FUZZ_TIME each
	scripts/fuzz.sh $(FUZZ_TIME)

chaos: build ## Long randomised fault campaigns (SEEDS, NODES, MIX=w3,w4 adds workloads)
	CHARTA_BIN=$(CURDIR)/$(BIN) CHARTA_CHAOS_SEEDS=$(SEEDS) CHARTA_CHAOS_NODES=$(NODES) CHARTA_CHAOS_MIX=$(MIX) $(GO) test -v -count=1 -timeout 0 -run 'TestChaos' ./internal/chaos/...

bench: build ## Benchmarks with same-run baselines; refreshes docs/benchmarks.md
	scripts/bench.sh

demo: build ## Start a local 3-member consortium with demo data
	$(BIN) dev --dir $(DEV_DIR) --demo

docker: ## Build the FROM-scratch image charta:dev
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/charta ./cmd/charta
	docker build -t charta:dev -f Dockerfile dist

clean: ## Remove build outputs and the demo directory
	rm -rf bin dist $(DEV_DIR)
