# mcp-v8 on Kubernetes — every command a user or CI runs goes through here.
# `make run` starts the executor; `make test` runs the whole test suite from a fresh machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/mcp-v8
CARGO_HOME ?= $(HOME)/.cargo
export CARGO_TARGET_DIR ?= $(CACHE)/target
export PATH := $(CACHE)/bin:$(CACHE)/venv/bin:$(CACHE)/node/node_modules/.bin:$(CARGO_HOME)/bin:$(PATH)
CARGO ?= cargo
STAMPS := $(CACHE)/stamps

# ---- V8: seed cargo's download cache from ../shared/v8 (see its README) ----
V8_DIR ?= $(abspath $(CURDIR)/../shared/v8)
V8_LIB := librusty_v8_simdutf_release_x86_64-unknown-linux-gnu.a.gz
V8_CACHED := $(CARGO_HOME)/.rusty_v8/https___github_com_denoland_rusty_v8_releases_download_v150_4_0_librusty_v8_simdutf_release_x86_64_unknown_linux_gnu_a_gz

.PHONY: help v8-cache tools build release run demo test test-rust lint fmt clean bench

help:
	@echo "make run     start mcp-v8 on http://127.0.0.1:8080 (MCP at /mcp, POST /api/exec), local heap store"
	@echo "make demo    run a short two-step session with \`mcp-v8 exec\` (CODE='...' to run your own)"
	@echo "make test    install test tools, lint, run every test suite"
	@echo "make bench   engine benchmark against the Node.js vm baseline"

v8-cache:
	@if [ -f "$(V8_CACHED)" ]; then exit 0; fi; \
	if [ ! -f "$(V8_DIR)/$(V8_LIB)" ]; then echo "no $(V8_DIR): cargo will download V8"; exit 0; fi; \
	(cd "$(V8_DIR)" && sha256sum --quiet -c SHA256SUMS); \
	mkdir -p "$(dir $(V8_CACHED))"; \
	cp "$(V8_DIR)/$(V8_LIB)" "$(V8_CACHED).tmp" && mv "$(V8_CACHED).tmp" "$(V8_CACHED)"; \
	echo "seeded $(V8_CACHED)"

# System tools the build and tests need. Fragments in mk/*.mk append to these lists
# (APT_PACKAGES += …); scripts/tools.sh installs what is missing, quickly when nothing is.
APT_PACKAGES := mold
PIP_PACKAGES :=
NPM_PACKAGES :=
export CACHE
tools:
	@APT_PACKAGES="$(APT_PACKAGES)" PIP_PACKAGES="$(PIP_PACKAGES)" NPM_PACKAGES="$(NPM_PACKAGES)" scripts/tools.sh

build: v8-cache tools
	$(CARGO) build --workspace --all-targets

release: v8-cache tools
	$(CARGO) build --release -p mcp-v8

lint: v8-cache tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

test-rust: v8-cache tools
	$(CARGO) test --workspace --no-fail-fast

test: lint test-rust

# The executor with its defaults (local heap directory, session DB in /tmp), serving HTTP on
# loopback; ARGS adds flags, e.g. `make run ARGS=--stateless`.
ARGS ?=
run: v8-cache tools
	$(CARGO) build -p mcp-v8 --bin mcp-v8
	exec "$(CARGO_TARGET_DIR)/debug/mcp-v8" --http-port 8080 $(ARGS)

CODE ?=
demo: v8-cache tools
	$(CARGO) build -p mcp-v8 --bin mcp-v8
	@MCP_V8="$(CARGO_TARGET_DIR)/debug/mcp-v8" scripts/demo.sh "$(CODE)"

bench: v8-cache tools
	$(CARGO) bench -p mcp-v8 --bench engine

clean:
	$(CARGO) clean

# Suites owned by each area add themselves to `test` and friends here.
-include mk/*.mk
