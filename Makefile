# driftless — the two commands a fresh machine needs:
#   make demo   start the dev control plane (no cluster needed), the controller and
#               an app that syncs from a local Git repository
#   make test   Rust unit tests, devcluster's Go tests, and integration tests
#               against a devcluster that the tests start and stop themselves
#
# Everything installs itself: Go modules through the Go module proxy, crates
# from crates.io, Debian packages with apt-get. Go's build cache and Cargo's
# target/ make a second run fast.

SHELL := /bin/bash
# Whole builds, not an edit-compile loop: incremental compilation keeps the
# compiled code of every workspace crate and test a second time in target/
# (gigabytes on a clean build, where it saves nothing).
export CARGO_INCREMENTAL ?= 0
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

DEVCLUSTER := target/devcluster/devcluster
DEVCLUSTER_SRC := $(shell find devcluster -name '*.go' -o -name 'go.mod' -o -name 'go.sum')
DEMO_DIR ?= .demo
TOOLS := $(CURDIR)/target/tools/bin
# Debian packages the build and tests need beyond the machine's toolchains
# (gcc: Dex links SQLite through cgo).
APT_PACKAGES := git ca-certificates gcc openssh-server
REGISTRY ?=
PGO ?= 1

.PHONY: help deps tools build build-tests devcluster test test-rust test-go demo bench bench-peers pgo image clean manifests

help:
	@echo "make demo   start a dev Kubernetes control plane, driftless and a demo app"
	@echo "make test   run every test (Rust, Go, and integration against devcluster)"
	@echo "make bench  run the benchmarks (they print figures)"
	@echo "make bench-peers  driftless, Flux and Argo CD side by side (docs/performance.md)"
	@echo "make pgo    a profile-guided release binary, target/pgo/driftless (docs/performance.md)"
	@echo "make image  build the container image (REGISTRY=host:port pushes it there)"

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && apt-get install -y -qq $$missing; fi
	@command -v go >/dev/null || { echo "Go is required (https://go.dev/dl) and not on PATH" >&2; exit 1; }
	@command -v cargo >/dev/null || { echo "Rust is required (rustup) and not on PATH" >&2; exit 1; }
	@command -v kubectl >/dev/null || { echo "kubectl is required and not on PATH" >&2; exit 1; }

devcluster: $(DEVCLUSTER)

# What tests and the demo run beside driftless, each installed once into
# target/tools/bin (Go module proxy, npm registry, Debian's chromium; Gitea
# builds from its Go module's source, a few minutes the first time).
tools:
	scripts/tools/helm.sh
	scripts/tools/registry.sh
	scripts/tools/crane.sh
	scripts/tools/dex.sh
	scripts/tools/browser.sh
	scripts/tools/gitea.sh
	scripts/tools/smtp.sh
	scripts/tools/sops.sh

# Not -trimpath-sensitive, no cgo: a static binary.
$(DEVCLUSTER): $(DEVCLUSTER_SRC)
	@mkdir -p $(dir $@)
	cd devcluster && CGO_ENABLED=0 go build -ldflags="-s -w" -o ../$@ .

build: deps $(DEVCLUSTER)
	cargo build --workspace

# The builds (devcluster, the tools, the Rust tests) run side by side: on a
# new machine much of their time is downloading. The tests then run on a
# machine that builds nothing: Go's beside Rust's, and two Rust test
# binaries at a time (scripts/test-rust.sh; TEST_JOBS=1 for one at a time,
# 3 is faster still on 2 cores but loads them more than timing tests like),
# since most wait on a cluster's timers. No --output-sync there: it would
# hold each test binary's output until the last one ends.
test: deps
	$(MAKE) --no-print-directory -j3 --output-sync=line $(DEVCLUSTER) tools build-tests
	$(MAKE) --no-print-directory -j2 test-go test-rust

# A second try when the first fails: a rustc that crashes (exit 101) while the
# Go tools build beside it is load, not code; a compile error fails again, and
# cargo keeps what the first try built.
build-tests:
	cargo test --workspace --no-run || { echo "build-tests: cargo failed; trying once more" >&2; cargo test --workspace --no-run; }

test-go:
	cd devcluster && CGO_ENABLED=0 go test ./...

test-rust: $(DEVCLUSTER) tools
	PATH=$(TOOLS):$$PATH DEVCLUSTER_BIN=$(CURDIR)/$(DEVCLUSTER) scripts/test-rust.sh

demo: deps $(DEVCLUSTER)
	scripts/tools/helm.sh
	cargo build -p driftless
	PATH=$(TOOLS):$$PATH DEMO_DIR=$(DEMO_DIR) scripts/demo.sh

bench: deps $(DEVCLUSTER) tools
	PATH=$(TOOLS):$$PATH DEVCLUSTER_BIN=$(CURDIR)/$(DEVCLUSTER) cargo bench --workspace

# driftless, Flux and Argo CD side by side on fresh devclusters with the same
# workload (docs/performance.md). The peers build from their Go modules the
# first time (Argo CD takes long); one that fails to build is skipped, with
# the reason, and the others still run. Not part of `make test`.
bench-peers: deps $(DEVCLUSTER) tools
	scripts/tools/flux.sh || echo "bench-peers: Flux did not build; it will be skipped"
	scripts/tools/argocd.sh || echo "bench-peers: Argo CD did not build; it will be skipped"
	PATH=$(TOOLS):$$PATH DEVCLUSTER_BIN=$(CURDIR)/$(DEVCLUSTER) cargo bench -p driftless --bench peers

# A release binary built with the profile of the controller's own cold start
# (scripts/pgo.sh): target/pgo/driftless. Measure it with
# PEERS_DRIFTLESS_BIN=$PWD/target/pgo/driftless make bench-peers.
pgo: deps $(DEVCLUSTER) tools
	DEVCLUSTER_BIN=$(CURDIR)/$(DEVCLUSTER) scripts/pgo.sh

# install/crds/crds.yaml (and the chart's copy) is what `driftless crds`
# prints (a test fails when it differs): regenerate after changing the API types.
manifests:
	cargo run -q -p driftless -- crds > install/crds/crds.yaml
	cp install/crds/crds.yaml charts/driftless/crds/crds.yaml

# Static (musl) release binaries in an image with no shell and no base image:
# scripts/image.sh. musl-tools: musl-gcc compiles ring's C for musl. The
# binary is built with PGO as `make pgo` builds it (PGO=0: without).
image: deps $(DEVCLUSTER) tools
	@dpkg -s musl-tools >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq musl-tools; }
	scripts/tools/crane.sh
	PATH=$(TOOLS):$$PATH DEVCLUSTER_BIN=$(CURDIR)/$(DEVCLUSTER) REGISTRY=$(REGISTRY) PGO=$(PGO) scripts/image.sh

clean:
	rm -rf target $(DEMO_DIR)
