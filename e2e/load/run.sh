#!/usr/bin/env bash
# `make load` (not part of `make test`): k6 drives POST /api/exec at constant arrival rates
# against three servers, one after the other, on this machine:
#   stateless  mcp-v8 --stateless, a tiny computation per request
#   stateful   mcp-v8 with a heap directory; LOAD_SESSIONS sessions are created first, then
#              each request resumes a random one (overlapping runs on a session allowed)
#   node       the Node.js `vm` baseline (node_baseline.mjs), the stateless snippet
# and writes a markdown table to e2e/load/results.md (also printed).
#
# Environment:
#   MCP_V8          the mcp-v8 binary (a release build: debug numbers mean nothing)
#   K6              k6 binary (default: k6 on PATH)
#   LOAD_SCENARIOS  default "stateless stateful node"
#   LOAD_RATES      requests/s, default "100 200 500 1000"
#   LOAD_DURATION   seconds per scenario and rate, default 20
#   LOAD_SESSIONS   sessions in the stateful scenario, default 16
#   LOAD_K6_CPUS    GOMAXPROCS for k6 (default 1: k6 is CPU-hungry, and on 2 cores it
#                   would otherwise take the CPU the server under test needs)
#   LOAD_RESULTS    output file, default e2e/load/results.md
#   LOAD_ARTIFACTS  per-run summaries, top snapshots and server logs (default: a temp dir)
#   LOAD_STRICT=1   exit 1 when a target (see report.mjs) is missed
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mcp_v8=${MCP_V8:?set MCP_V8 to the mcp-v8 binary}
k6=${K6:-k6}
scenarios=${LOAD_SCENARIOS:-stateless stateful node}
rates=${LOAD_RATES:-100 200 500 1000}
duration=${LOAD_DURATION:-20}
sessions=${LOAD_SESSIONS:-16}
k6_cpus=${LOAD_K6_CPUS:-1}
results=${LOAD_RESULTS:-$here/results.md}
artifacts=${LOAD_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/mcp-v8-load.XXXXXX")}
work=$(mktemp -d "${TMPDIR:-/tmp}/mcp-v8-load-work.XXXXXX")
clk_tck=$(getconf CLK_TCK)
server_pid=

for tool in "$mcp_v8" "$k6" node curl; do
  command -v "$tool" >/dev/null || { echo "load: $tool not found" >&2; exit 1; }
done
mkdir -p "$artifacts"

stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# start_server <scenario>: starts it on a free port, sets server_pid and base_url. A port
# taken between free_port and the bind shows as an early exit; retry with another.
start_server() {
  local scenario=$1 attempt port dir
  for attempt in 1 2 3; do
    port=$(free_port)
    dir=$work/$scenario.$attempt
    mkdir -p "$dir"
    case $scenario in
      stateless) "$mcp_v8" --stateless --session-db-path "$dir/db" --http-port "$port" \
          --max-concurrent-executions "$(nproc)" --max-queued-executions 10000 --log warn \
          >"$artifacts/$scenario.log" 2>&1 & ;;
      stateful) "$mcp_v8" --session-db-path "$dir/db" --directory-path "$dir/heaps" --http-port "$port" \
          --max-concurrent-executions "$(nproc)" --max-queued-executions 10000 --log warn \
          >"$artifacts/$scenario.log" 2>&1 & ;;
      node) node "$here/node_baseline.mjs" "$port" >"$artifacts/$scenario.log" 2>&1 & ;;
      *) echo "load: unknown scenario $scenario" >&2; exit 1 ;;
    esac
    server_pid=$!
    base_url=http://127.0.0.1:$port
    for _ in $(seq 150); do
      if curl -sf -o /dev/null "$base_url/readyz"; then return 0; fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.2
    done
    echo "load: $scenario did not become ready on port $port (attempt $attempt):" >&2
    tail -5 "$artifacts/$scenario.log" >&2 || true
    stop_server
  done
  exit 1
}

# CPU ticks used so far by a process and its live descendants (the worker processes), plus
# the reaped children they accounted for.
tree_ticks() {
  local pid=$1 total=0 child stat
  if stat=$(cat "/proc/$pid/stat" 2>/dev/null); then
    # Fields after "pid (comm) ": utime stime cutime cstime are the 12th to 15th.
    total=$(echo "${stat##*) }" | awk '{ print $12 + $13 + $14 + $15 }')
  fi
  for child in $(pgrep -P "$pid" || true); do
    total=$((total + $(tree_ticks "$child")))
  done
  echo "$total"
}

# Seconds of "XmY.YYYs" as printed by the `times` builtin.
to_secs() { awk -v t="$1" 'BEGIN { split(t, a, "m"); sub("s", "", a[2]); print a[1] * 60 + a[2] }'; }

# Waits until the server has nothing queued or running, so that the backlog of one rate
# does not land on the next.
drain() {
  local status
  [ "$1" = node ] && return 0
  for _ in $(seq 300); do
    local busy=0
    for status in queued running; do
      if curl -sf "$base_url/api/executions?status=$status&limit=1" | grep -q '"execution_id"'; then busy=1; fi
    done
    [ "$busy" = 0 ] && return 0
    sleep 0.2
  done
  echo "load: warning: server still busy 60 s after the run" >&2
}

# Busy CPU ticks of the whole machine so far (every core; idle and iowait excluded).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

now() { date +%s.%N; }

# Percent of one core: ticks over the wall seconds between two now()s.
pct() { awk -v t="$1" -v hz="$clk_tck" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", t / hz / (b - a) * 100 }'; }

# run_k6 <scenario> <rate>: one k6 run; appends a line to $artifacts/runs.tsv: scenario, rate,
# k6 summary, CPU % of the server (with its workers), of k6, and of everything else.
run_k6() {
  local scenario=$1 rate=$2 mode=stateless summary t0 t1 server0 server1 all0 all1 k6_times k6_user k6_sys
  local top_pid server_pct k6_pct all_pct
  [ "$scenario" = stateful ] && mode=stateful
  summary=$artifacts/$scenario-$rate.json
  # A snapshot of the machine halfway through, to see who has the CPU.
  # (top's second sample: the first one's CPU figures are since boot.)
  (sleep "$((duration / 2))"; top -b -n 2 -d 1 -w 200 | awk '/^top -/ { n++ } n == 2' | head -20 \
    >"$artifacts/top-$scenario-$rate.txt") &
  top_pid=$!
  t0=$(now) server0=$(tree_ticks "$server_pid") all0=$(machine_ticks)
  # The subshell's `times` (its last line) is k6's CPU time, its only waited-for child.
  k6_times=$(
    GOMAXPROCS=$k6_cpus K6_NO_USAGE_REPORT=true "$k6" run --quiet --no-color \
      -e BASE_URL="$base_url" -e MODE="$mode" -e RATE="$rate" -e DURATION="$duration" \
      -e SESSIONS="$sessions" -e SUMMARY="$summary" "$here/exec.js" >&2
    times
  )
  t1=$(now) server1=$(tree_ticks "$server_pid") all1=$(machine_ticks)
  wait "$top_pid" 2>/dev/null || true
  [ -s "$summary" ] || { echo "load: k6 wrote no summary for $scenario at $rate/s" >&2; exit 1; }
  read -r k6_user k6_sys <<<"${k6_times##*$'\n'}"
  server_pct=$(pct "$((server1 - server0))" "$t0" "$t1")
  k6_pct=$(awk -v u="$(to_secs "$k6_user")" -v s="$(to_secs "$k6_sys")" -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%.0f", (u + s) / (b - a) * 100 }')
  all_pct=$(pct "$((all1 - all0))" "$t0" "$t1")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$rate" "$summary" "$server_pct" "$k6_pct" \
    "$((all_pct - server_pct - k6_pct < 0 ? 0 : all_pct - server_pct - k6_pct))" >>"$artifacts/runs.tsv"
  drain "$scenario"
}

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
: >"$artifacts/runs.tsv"
for scenario in $scenarios; do
  echo "== $scenario" >&2
  start_server "$scenario"
  for rate in $rates; do run_k6 "$scenario" "$rate"; done
  stop_server
done

LOAD_NPROC=$(nproc) \
  LOAD_CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') \
  LOAD_LOADAVG=$loadavg_start LOAD_DATE=$started LOAD_DURATION=$duration LOAD_SESSIONS=$sessions LOAD_K6_CPUS=$k6_cpus \
  LOAD_K6_VERSION=$("$k6" version | head -1) LOAD_MCP_V8=$mcp_v8 \
  node "$here/report.mjs" "$artifacts/runs.tsv" "$results"
echo "load: artifacts (summaries, top snapshots, server logs) in $artifacts" >&2
