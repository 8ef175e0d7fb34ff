# Heap store crate (executor/store): its S3 tests start a real moto server on loopback.
# The tests find moto_server through MCP_V8_MOTO_SERVER (or PATH) and start/stop it
# themselves; `make tools` installs it into $(CACHE)/venv.
PIP_PACKAGES += moto[server]
export MCP_V8_MOTO_SERVER ?= $(CACHE)/venv/bin/moto_server

.PHONY: test-store bench-store
# The store suite alone (fast: no V8 build needed).
test-store: tools
	$(CARGO) test -p mcp-v8-store

# put/get latency and throughput on dir, S3 (moto) and cache hits.
bench-store: tools
	$(CARGO) bench -p mcp-v8-store
