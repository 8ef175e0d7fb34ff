#!/usr/bin/env bash
# Runs the real-client suites (TypeScript SDK + Inspector CLI with node --test, Python SDK with
# pytest) against the mcp-v8 binary in MCP_V8_BIN. The tests start and stop their own servers.
# The packages come from `make tools`: node ones in $CACHE/node/node_modules, linked here
# because ES module imports do not honour NODE_PATH; Python ones in the $CACHE/venv python.
# Two test files at a time: they mostly wait on running code, not on the CPU.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CACHE:-$HOME/.cache/mcp-v8}
MCP_V8_BIN=$(realpath "${MCP_V8_BIN:?set MCP_V8_BIN to the mcp-v8 binary}")
export MCP_V8_BIN
node_modules=${MCP_V8_CLIENTS_NODE_PATH:-$cache/node/node_modules}
python=${MCP_V8_CLIENTS_PYTHON:-$cache/venv/bin/python}
ln -sfn "$node_modules" "$here/node_modules"

status=0
echo "== TypeScript SDK, Inspector CLI (node --test)"
(cd "$here/ts" && node --test --test-concurrency=2 --test-reporter=spec ./*.test.mjs) || status=1
echo "== Python SDK (pytest)"
(cd "$here/py" && "$python" -m pytest) || status=1
exit "$status"
