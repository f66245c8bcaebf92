# otelsec developer entry points. `make` (or `make help`) lists the targets.
#
# Go is the only requirement for building. Loading BPF programs (run, test, bench) needs root;
# compiling them (generate, check-generate) needs clang-19 and llvm-19.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
OCB       := $(TOOL) builder --config builder-config.yaml
BUILD_DIR := _build
DIST      := $(BUILD_DIR)/otelsec
CONFIG    ?= distribution/config.yaml

# Fails with a message naming the target when not run as root.
define require_root
@if [ "$$(id -u)" -ne 0 ]; then \
	echo "make $@: the eBPF sensors load BPF programs, which needs root"; \
	echo "  (or CAP_BPF + CAP_PERFMON, plus CAP_SYS_ADMIN on some kernels)."; \
	echo "  Run: sudo make $@   (sudo env \"PATH=\$$PATH\" make $@ if sudo cannot find go)"; \
	exit 1; \
fi
endef

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: tools
tools: ## Download and compile the pinned build tools (ocb, bpf2go, mdatagen) from tools/go.mod
	$(GO) build -modfile=tools/go.mod -o /dev/null tool

.PHONY: clang
clang: ## Install clang-19 and llvm-19 with apt when missing (as root); bpf2go needs them
	@if command -v clang-19 >/dev/null && command -v llvm-strip-19 >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "make $@: clang-19 and llvm-strip-19 are needed to compile the BPF programs."; \
		echo "  Install them: sudo apt-get install -y clang-19 llvm-19"; \
		exit 1; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y clang-19 llvm-19 || { apt-get update && apt-get install -y clang-19 llvm-19; }

.PHONY: generate
generate: clang ## Regenerate BPF objects and bindings, mdatagen code and generated docs (go generate ./...)
	$(GO) generate ./...

# For CI on a clean checkout: any difference after `make generate` means a generated file was
# committed stale. Locally, uncommitted edits under CHECK_PATHS show up too.
CHECK_PATHS ?= .

.PHONY: vmlinux
vmlinux: ## Regenerate bpf/include/vmlinux.h from this kernel's BTF (needs bpftool); commit it deliberately
	@command -v bpftool >/dev/null || { echo "make $@: needs bpftool (apt-get install bpftool)"; exit 1; }
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h

.PHONY: check-generate
check-generate: generate ## Fail when `make generate` leaves differences (stale generated files)
	@if [ -n "$$(git status --porcelain -- $(CHECK_PATHS))" ]; then \
		echo "make $@: generated files differ from the committed ones; run 'make generate' and commit:"; \
		git status --porcelain -- $(CHECK_PATHS); \
		git diff --stat -- $(CHECK_PATHS); \
		exit 1; \
	fi; \
	echo "generated files are up to date"

# ocb's own `go mod tidy` fails on fileexporter v0.148.0: its tests import otlpencodingextension
# v0.148.0, which the checksum database does not serve. So: generate, `go mod tidy -e` (which
# reports that one error and carries on; it is filtered out below), then compile.
TIDY_KNOWN_ERROR := -e '^go: github.com/otelsec/otelsec/distribution/otelsec imports$$' \
	-e 'fileexporter tested by$$' -e 'fileexporter.test imports$$' \
	-e 'downloading .*otlpencodingextension' -e 'otlpencodingextension.*404 Not Found$$'

.PHONY: build
build: ## Build the collector distribution into _build/otelsec with ocb (needs only Go)
	$(OCB) --skip-compilation --skip-get-modules
	cd $(BUILD_DIR) && $(GO) mod tidy -e 2>&1 | { grep -v $(TIDY_KNOWN_ERROR) || true; }
	$(OCB) --skip-generate --skip-get-modules
	@ls -l $(DIST)

.PHONY: run
run: ## Build, then run _build/otelsec with distribution/config.yaml (needs root)
	$(require_root)
	$(MAKE) --no-print-directory build
	$(DIST) --config $(CONFIG)

.PHONY: test
# The Grafana dashboards' test (distribution/grafana) runs the built collector and a real
# Prometheus: both are made ready before the Go tests, and the test fails rather than skips.
test: export OTELSEC_REQUIRE_PROMETHEUS = 1
# The Kubernetes tests (internal/k8s, processor/k8senrichprocessor, distribution/kubernetes)
# run a real kube-apiserver and etcd: scripts/kube-test-env.sh installs them once (cached under
# ~/.cache/otelsec), and the tests fail rather than skip without them. The built collector
# validates the Kubernetes configurations (OTELSEC_BIN).
test: export OTELSEC_REQUIRE_KUBE = 1
test: export OTELSEC_BIN = $(CURDIR)/$(DIST)
test: ## Run every test as root: Go tests (BPF programs load for real), go vet, then the built collector's smoke test
	$(require_root)
	$(GO) mod download
	scripts/prometheus-test-env.sh >/dev/null
	scripts/kube-test-env.sh >/dev/null
	$(GO) build -modfile=tools/go.mod -o /dev/null helm.sh/helm/v3/cmd/helm  # the chart tests run it
	scripts/install-victorialogs.sh
	$(MAKE) --no-print-directory build
	$(GO) test -count=1 -p 1 ./...
	$(GO) vet ./...
	scripts/smoke.sh

.PHONY: vmtest
vmtest: ## Run the BPF tests on Debian 6.1, 6.12 and 7.x kernels under qemu (as root: apt installs qemu)
	GO="$(GO)" vmtest/run.sh

.PHONY: bench
bench: ## Run the Go benchmarks, then scripts/bench.sh when it exists (needs root)
	$(require_root)
	scripts/kube-test-env.sh >/dev/null
	$(GO) test -run '^$$' -bench . -benchmem -p 1 ./...
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh; fi

.PHONY: lint
lint: ## Check formatting (gofmt -l) and run go vet
	@files=$$(find . -name '*.go' -not -path './$(BUILD_DIR)/*' -not -path './.*' | xargs gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt would change:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...

.PHONY: clean
clean: ## Remove build output (_build/); Go's module and build caches are kept
	rm -rf $(BUILD_DIR)
