#!/usr/bin/env bash
# `make run`: runs CODE with mcp-v8, or (without CODE) a two-step session that shows a
# heap snapshot carrying state from one run to the next.
set -euo pipefail
bin=${MCP_V8:?path of the mcp-v8 binary}
if [ -n "${1:-}" ]; then
  exec "$bin" exec "$1"
fi
first='var visits = 1; const greet = (name: string): string => `hello ${name}`; greet("agent")'
echo "\$ mcp-v8 exec '$first'"
out=$("$bin" exec "$first")
echo "$out"
heap=$(echo "$out" | sed -n 's/.*"heap": "\([0-9a-f]\{64\}\)".*/\1/p')
second='visits += 1; greet("again") + " #" + visits'
echo "\$ mcp-v8 exec --heap $heap '$second'"
"$bin" exec --heap "$heap" "$second"
