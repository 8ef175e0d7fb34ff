# Local end-to-end suite (issue 7): the kind scenario without Kubernetes. Three mcp-v8
# processes on loopback in raft cluster mode, moto as S3 and a round-robin front, driven by
# the kind suite's own MCP client (e2e/kind/client.mjs); moto, boto3 and the MCP SDK come
# from `make tools` (mk/store.mk, mk/clients.mk).
.PHONY: e2e-local
e2e-local: v8-cache tools sqlite-wasm
	$(CARGO) build -p mcp-v8 --bin mcp-v8
	MCP_V8_BIN="$(CARGO_TARGET_DIR)/debug/mcp-v8" e2e/local/run.sh

# Under a minute and a half even on a busy two-core machine, so part of `make test`.
test: e2e-local
