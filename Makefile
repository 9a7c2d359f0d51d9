# toyhub. Run `make help` for the targets.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go
FUZZTIME ?= 30s
BIN     := bin

.PHONY: help run build test lint bench bench-store bench-web bench-audit fuzz screenshots clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: build ## Start a hub on its embedded defaults (data in ./data, broker on :8883)
	./$(BIN)/toyhub serve

build: ## Build toyhub and toy into ./bin, static (CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./hub/cmd/toyhub ./devices/cmd/toy

test: lint ## Run the whole suite: lint, unit, integration, interop, fuzz seeds, with -race
	$(GO) test -race -count=1 -timeout 20m ./...

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench: build ## Measure toy→hub→toy delivery (1 and 25 pairs) beside a seal+insert baseline
	$(GO) run ./hub/cmd/toybench --hub $(BIN)/toyhub --json $(BIN)/bench.json

bench-store: ## Compare journal modes and page sizes on the message path
	$(GO) test ./store -run '^$$' -bench Journal -benchtime 3000x

bench-web: ## Playing a message from the store beside a memory copy; logins one and eight at a time
	$(GO) test ./store -run '^$$' -bench '^BenchmarkAudio$$' -benchtime 2s
	$(GO) test ./web -run '^$$' -bench '^BenchmarkLoginFlood$$' -benchtime 20x

bench-audit: ## The self-check beside a control-socket round trip; the network scan's rate against its limit
	$(GO) test ./hub -run '^$$' -bench '^BenchmarkSelfCheck$$' -benchtime 20x
	$(GO) test ./hub/audit -run '^$$' -bench '^BenchmarkScanRate$$' -benchtime 3x

fuzz: ## Run every fuzz target for FUZZTIME each
	$(GO) test ./wire -run '^$$' -fuzz '^FuzzDecodeChunk$$' -fuzztime $(FUZZTIME)
	$(GO) test ./wire -run '^$$' -fuzz '^FuzzParseWAV$$' -fuzztime $(FUZZTIME)

screenshots: ## Drive the web app in headless Chromium and copy its page screenshots to docs/screenshots
	rm -rf $(BIN)/artifacts && mkdir -p $(BIN)/artifacts docs/screenshots
	$(GO) test ./hub -count=1 -run '^TestBrowser' -artifacts -outputdir $(abspath $(BIN)/artifacts)
	find $(BIN)/artifacts -name '*.png' -exec cp {} docs/screenshots/ \;

clean: ## Remove build output (not ./data)
	rm -rf $(BIN)
