# toyhub. Run `make help` for the targets.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Debian versions must start with a digit: 0.0.0+git<date>.<commit> until a tag exists.
DEB_VERSION ?= $(shell v=$$(git describe --tags --abbrev=0 2>/dev/null | sed 's/^v//'); [ -n "$$v" ] || v=0.0.0; \
	echo "$$v+git$$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0).$$(git rev-parse --short HEAD 2>/dev/null || echo 0)")
DIST    ?= dist
# Targets: amd64, arm64, armv7 (GOARM=7) and armv6 (GOARM=6: Pi Zero and Pi 1;
# its package is armhf too, as Raspberry Pi OS calls it).
TARGETS ?= amd64 arm64 armv7 armv6
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go
FUZZTIME ?= 30s
BIN     := bin

.PHONY: help run build dist deb test lint bench bench-abuse soak soak-store bench-store bench-web bench-audit bench-backup bench-delete fuzz screenshots clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: build ## Start a hub on its embedded defaults (data in ./data, broker on :8883)
	./$(BIN)/toyhub serve

build: ## Build toyhub and toy into ./bin, static (CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./hub/cmd/toyhub ./devices/cmd/toy

dist: ## Cross-build static binaries for $(TARGETS) into $(DIST)/, with SHA256SUMS
	@mkdir -p $(DIST)
	@for t in $(TARGETS); do \
	  case $$t in amd64) a=amd64; m=;; arm64) a=arm64; m=;; armv7) a=arm; m=7;; armv6) a=arm; m=6;; *) echo "unknown target $$t"; exit 1;; esac; \
	  echo "building $$t"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$a GOARM=$$m $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(DIST)/$$t/ ./hub/cmd/toyhub ./devices/cmd/toy || exit 1; \
	done
	cd $(DIST) && find . -type f \( -name toyhub -o -name toy -o -name '*.deb' \) | sort | xargs sha256sum > SHA256SUMS

STAGE := $(BIN)/pkgstage

deb: dist ## Build the Debian packages for $(TARGETS) into $(DIST)/ (nfpm, a Go tool dependency: nothing is downloaded)
	@rm -rf $(STAGE) && mkdir -p $(STAGE)
	$(GO) run ./hub/cmd/toyhub help man | gzip -9n > $(STAGE)/toyhub.1.gz
	$(GO) run ./devices/cmd/toy help man | gzip -9n > $(STAGE)/toy.1.gz
	printf 'toyhub ($(DEB_VERSION)) unstable; urgency=medium\n\n  * Built from %s.\n\n -- toyhub developers <maintainers@toyhub.example>  %s\n' \
	  "$$(git rev-parse --short HEAD 2>/dev/null || echo source)" "$$(date -R -d @$$(git log -1 --format=%ct 2>/dev/null || date +%s))" | gzip -9n > $(STAGE)/changelog.gz
	@for t in $(TARGETS); do \
	  case $$t in amd64) d=amd64;; arm64) d=arm64;; armv7|armv6) d=armhf;; esac; \
	  cp $(DIST)/$$t/toyhub $(DIST)/$$t/toy $(STAGE)/ || exit 1; \
	  DEB_ARCH=$$d DEB_VERSION=$(DEB_VERSION) \
	    $(GO) tool nfpm package --config packaging/nfpm.yaml --packager deb --target $(DIST)/toyhub_$(DEB_VERSION)_$$t.deb || exit 1; \
	done
	cd $(DIST) && find . -type f \( -name toyhub -o -name toy -o -name '*.deb' \) | sort | xargs sha256sum > SHA256SUMS

test: lint ## Run the whole suite: lint, unit, integration, interop, fuzz seeds, with -race; then SQLite's memory plateau
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory soak-store

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

bench: build ## The load harness beside Mosquitto (throughput, 200 toys, storms of 10 and 1,000 toys and their idle memory); grandpa's message through a router beside the LAN
	$(GO) run ./hub/cmd/toybench --hub $(BIN)/toyhub --json $(BIN)/bench.json
	$(GO) test ./hub/cmd/toyhub -run '^$$' -bench '^BenchmarkFarRoundTrip$$' -benchtime 5x

bench-abuse: build ## A toy's round trip under each MQTT attack, and the owner's login and the hub's RSS under each web flood, beside none
	$(GO) run ./hub/cmd/toybench --hub $(BIN)/toyhub --mode abuse --json $(BIN)/bench-abuse.json

soak: build ## 30 minutes of the 200-toy load, sampling the hub's RSS and goroutines each minute (not run in CI)
	$(GO) run ./hub/cmd/toybench --hub $(BIN)/toyhub --mode soak --json $(BIN)/soak.json

soak-store: ## 21,000 messages through the store, checking that SQLite's C memory stops growing (about a minute; part of make test)
	$(GO) test -tags memory.counters ./store -run '^TestCMemoryPlateau$$' -count=1 -v -timeout 30m

bench-store: ## Compare journal modes and page sizes on the message path; sending with 20,000 messages kept beside none
	$(GO) test ./store -run '^$$' -bench Journal -benchtime 3000x
	$(GO) test ./store -run '^$$' -bench '^BenchmarkSenderHistory$$' -count 3

bench-web: ## Playing a message from the store beside a memory copy; logins one and eight at a time
	$(GO) test ./store -run '^$$' -bench '^BenchmarkAudio$$' -benchtime 2s
	$(GO) test ./web/password -run '^$$' -bench '^BenchmarkLoginFlood$$' -benchtime 20x

bench-audit: ## The self-check beside a control-socket round trip; the network scan's rate against its limit
	$(GO) test ./hub -run '^$$' -bench '^BenchmarkSelfCheck$$' -benchtime 20x
	$(GO) test ./hub/audit -run '^$$' -bench '^BenchmarkScanRate$$' -benchtime 3x

bench-delete: ## Deleting a message for good beside deleting its rows
	$(GO) test ./store -run '^$$' -bench '^BenchmarkDeleteMessage$$' -benchtime 50x

bench-backup: ## Backing up and restoring 32 MiB beside copying the file
	$(GO) test ./hub/backup -run '^$$' -bench '^BenchmarkBackup$$' -benchtime 5x

FUZZ_TARGETS := wire:FuzzDecodeChunk wire:FuzzParseWAV wire:FuzzParsePairingCode wire:FuzzParseInvite wire:FuzzDecodeMessages \
	hub:FuzzLoadConfig hub/household:FuzzSettingsForm hub/backup:FuzzExtract hub/audit:FuzzBSON hub/audit:FuzzProcNet \
	certs:FuzzParseCSR web/password:FuzzCheckPassword web:FuzzTOTP web:FuzzDecodeLabel

fuzz: ## Run every fuzz target for FUZZTIME each (the seeds run in make test)
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t#*:}; echo "fuzzing $$fn in ./$$pkg for $(FUZZTIME)"; \
	  $(GO) test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

screenshots: ## Drive the web app in headless Chromium and copy its page screenshots to docs/screenshots
	rm -rf $(BIN)/artifacts && mkdir -p $(BIN)/artifacts docs/screenshots
	$(GO) test ./hub -count=1 -run '^TestBrowser' -artifacts -outputdir $(abspath $(BIN)/artifacts)
	find $(BIN)/artifacts -name '*.png' -exec cp {} docs/screenshots/ \;

clean: ## Remove build output (not ./data)
	rm -rf $(BIN) $(DIST)
