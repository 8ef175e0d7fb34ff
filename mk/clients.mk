# Real MCP clients against the real mcp-v8 binary (e2e/clients): the official TypeScript SDK
# (node --test), the official Python SDK (pytest) and the MCP Inspector CLI, over stdio,
# Streamable HTTP and legacy SSE, plus bad input and two replicas behind a round-robin proxy.
# The tests start the binary themselves on free loopback ports with temp dirs; MCP_V8_BIN says
# which binary. inspector-cli rather than inspector 2.x, which needs node >= 22.
NPM_PACKAGES += @modelcontextprotocol/sdk@1.32.2 @modelcontextprotocol/inspector-cli@1.0.3
PIP_PACKAGES += mcp==2.3.0 pytest==9.2.0 anyio==4.16.0
export MCP_V8_CLIENTS_NODE_PATH ?= $(CACHE)/node/node_modules
export MCP_V8_CLIENTS_PYTHON ?= $(CACHE)/venv/bin/python

.PHONY: test-clients
test-clients: v8-cache tools
	$(CARGO) build -p mcp-v8 --bin mcp-v8
	MCP_V8_BIN="$(CARGO_TARGET_DIR)/debug/mcp-v8" e2e/clients/run.sh

test: test-clients
