# datapath-exporter: build, test, lint, benchmark and demo.
# `make test` is what CI runs (.ci/run); it installs what it needs first.

GO       ?= go
BIN      := bin/datapath-exporter
PKG      := github.com/datapath-exporter/datapath-exporter
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w \
	-X github.com/prometheus/common/version.Version=$(VERSION) \
	-X github.com/prometheus/common/version.Revision=$(REVISION) \
	-X github.com/prometheus/common/version.Branch=$(BRANCH) \
	-X github.com/prometheus/common/version.BuildUser=$(shell id -un)@$(shell hostname) \
	-X github.com/prometheus/common/version.BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
# Fuzz budget per target in `make test`, as a count of runs: Go 1.26's fuzzer
# can fail a time-bounded run with a bare "context deadline exceeded" on a
# loaded machine (golang/go#75804). `make fuzz FUZZTIME=5m` for a long run.
FUZZTIME ?= 20000x

.PHONY: all build deps test test-kernel test-deploy fuzz lint bench demo demo-kernel demo-stop clean generate

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/datapath-exporter

# Every generated file from its source: the mixin (mixin/) renders the rules
# files and dashboards (deploy/rules/*.rules.yml, grafana/*.json), then
# deploy's generator wraps them in the PrometheusRule and the ConfigMaps.
# Tests in both modules fail when a checked-in file is stale.
generate:
	$(GO) run ./mixin/cmd/generate -root .
	cd deploy && $(GO) generate ./...

# Debian packages the tests run for real: OVS, conntrack, nftables, iproute2,
# setpriv (util-linux) and Prometheus/promtool 2.42 (the oldest release
# tested); and Prometheus/promtool 3, built once from the Go module proxy
# into /var/cache/datapath-exporter (scripts/prometheus3.sh; bin/prometheus3
# and bin/promtool3 point at them).
deps:
	@echo "$$(date -u +%T) make deps"
	@scripts/deps.sh

# go test's JSON goes through scripts/testreport, which prints what plain
# go test prints plus a closing count, and with CI=true fails the run on a
# skipped test: a skip in CI is a missing prerequisite that a green run would
# hide. The kernel node's tests (a qemu guest under TCG, a core busy for
# minutes) run after the others, so the guest never slows their deadlines;
# deploy's module and the fuzz targets, which have none, run beside them.
TESTREPORT := bin/testreport
# The e2e test that boots a kernel node VM of its own (the demo), run after
# the kernel node package, one VM at a time.
KERNEL_DEMO_TEST := ^TestDemoKernelUpAndDown$$

test: deps build
	@echo "$$(date -u +%T) make test: checks and the main module's tests"
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt wants changes in:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@$(MAKE) --no-print-directory $(TESTREPORT)
	bash -o pipefail -c '$(GO) test -race -count=1 -timeout 25m -json -skip $(KERNEL_DEMO_TEST) $$($(GO) list ./... | grep -v /internal/kernelnode) 2>&1 | $(TESTREPORT)'
	@echo "$$(date -u +%T) make test: the kernel node; beside it deploy's module and the fuzz targets"
	@scripts/beside.sh '$(MAKE) --no-print-directory test-deploy && $(MAKE) --no-print-directory fuzz' '$(MAKE) --no-print-directory test-kernel'
	@echo "$$(date -u +%T) make test: passed"

# The kernel node's tests, then the demo on it (one VM at a time).
test-kernel: $(TESTREPORT)
	bash -o pipefail -c '$(GO) test -race -count=1 -timeout 15m -json ./internal/kernelnode 2>&1 | $(TESTREPORT)'
	@echo "$$(date -u +%T) make test: the demo on the kernel node"
	bash -o pipefail -c '$(GO) test -race -count=1 -timeout 10m -json -run $(KERNEL_DEMO_TEST) ./internal/e2e 2>&1 | $(TESTREPORT)'

# deploy's module: manifests, chart, mixin output, the image's final stage.
test-deploy: $(TESTREPORT)
	@echo "$$(date -u +%T) make test: deploy's module"
	cd deploy && $(GO) vet ./... && bash -o pipefail -c '$(GO) test -count=1 -timeout 10m -json ./... 2>&1 | ../$(TESTREPORT)'

# A file target: the two jobs beside each other find it made and never
# rewrite it while the other runs it.
$(TESTREPORT): $(wildcard scripts/testreport/*.go) go.mod
	$(GO) build -o $(TESTREPORT) ./scripts/testreport

# A bounded run of every fuzz target (seeds from real OVS captures).
fuzz:
	@echo "$$(date -u +%T) make fuzz: every fuzz target, $(FUZZTIME) each"
	@scripts/fuzz.sh $(FUZZTIME)

# Benchmarks backing the README's performance claims, this project against
# the alternatives side by side: ratio tables and plots in docs/bench/.
bench: deps
	@scripts/bench.sh

DEMO_PIDFILE ?= /tmp/datapath-exporter-demo.pid
DEMO_ARGS    ?=

# The whole stack on this machine: private OVS with an Antrea-like br-int,
# conntrack load in a private netns, the exporter and Prometheus with the
# alert rules. Ctrl-C (or `make demo-stop`) removes all of it.
demo: deps build
	$(GO) build -o bin/datapath-demo ./internal/cmd/demo
	bin/datapath-demo -exporter $(BIN) -pidfile $(DEMO_PIDFILE) $(DEMO_ARGS)

# The demo on the kernel node (docs/demo.md): OVS's kernel datapath, the
# Pods, the conntrack flood and the exporter in a VM, Prometheus on the host.
demo-kernel:
	$(MAKE) demo DEMO_ARGS="-kernel $(DEMO_ARGS)"

demo-stop:
	@if [ -f $(DEMO_PIDFILE) ]; then \
		pid=$$(cat $(DEMO_PIDFILE)); kill -TERM $$pid 2>/dev/null || true; \
		for i in $$(seq 1 100); do kill -0 $$pid 2>/dev/null || break; sleep 0.2; done; \
		echo "demo stopped"; \
	else echo "no demo running ($(DEMO_PIDFILE) not found)"; fi

# staticcheck is pinned and fetched through the module proxy by `go run`.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	$(GO) vet ./...
	cd deploy && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd deploy && $(GO) run $(STATICCHECK) ./...
	@if command -v golangci-lint >/dev/null; then golangci-lint run; fi

clean:
	rm -rf bin

# PNGs of Prometheus' graphs and alerts for docs/screenshots/, from a real run
# of the demo on its own ports (about 5 minutes; installs chromium if missing).
.PHONY: screenshots
screenshots: deps
	@scripts/screenshots.sh
