#!/usr/bin/env bash
# Local end-to-end suite (`make e2e-local`): the kind scenario (e2e/kind/run.sh) without
# Kubernetes. Three mcp-v8 processes on loopback in raft cluster mode, heaps in moto (S3),
# a round-robin front (proxy.mjs) standing in for the client Service, driven by the same
# MCP client as the kind suite (e2e/kind/client.mjs, official TypeScript SDK):
#   stateless code; a session built over several calls; kill -9 of the node that served it
#   and the session continued through the front on another node (state and full log), the
#   node restarted as its StatefulSet would; 3 → 5 → 3 (two --join nodes promoted to voters,
#   two voters removed with /cluster/remove then killed) with session writes in flight, and
#   afterwards every acknowledged write in the session log on every live node.
# MCP_V8_BIN is the binary; logs and state go to a temp dir (KEEP_TMP=1 keeps it), whose
# node logs' tails are printed on failure. Everything started here is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/e2e/local
cache=${CACHE:-$HOME/.cache/mcp-v8}
bin=$(realpath "${MCP_V8_BIN:?set MCP_V8_BIN to the mcp-v8 binary}")
moto=${MCP_V8_MOTO_SERVER:-$cache/venv/bin/moto_server}
python=${MCP_V8_CLIENTS_PYTHON:-$cache/venv/bin/python}
node_modules=${MCP_V8_CLIENTS_NODE_PATH:-$cache/node/node_modules}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcp-v8-e2e-local.XXXXXX")
bucket=e2e-heaps
passed=0
started=$SECONDS
declare -A pid http_port cluster_port
export NO_COLOR=1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

log() { printf '\n== %s\n' "$*"; }
ok() { passed=$((passed + 1)); echo "ok $passed - $1 [$((SECONDS - started)) s]"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
  local rc=$? p n
  if [ "$rc" -ne 0 ]; then
    # What each live node thinks before it goes: raft view and its latest executions.
    for n in 1 2 3 4 5; do
      [ -n "${pid[$n]:-}" ] || continue
      { status "$n"; echo; curl -sS -m 5 "http://127.0.0.1:${http_port[$n]}/api/executions?limit=5"; echo; } \
        >"$tmp/node$n.state" 2>&1 || true
    done
  fi
  if [ -n "${writer:-}" ]; then touch "$tmp/stop-writer"; kill "$writer" 2>/dev/null || true; fi
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    for p in "$tmp"/node*.log "$tmp"/front.log "$tmp"/writer.log "$tmp"/*.state; do
      [ -s "$p" ] || continue
      echo "---- tail of $p" >&2
      tail -n 40 "$p" >&2
    done
    echo "$passed passed, 1 failed (logs and state in $tmp)"
  elif [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "logs and state kept in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# free_ports N: N distinct free loopback ports (bound together, then released).
free_ports() {
  "$python" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 0.5 s until it succeeds.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.5
  done
}

# start_node N MEMBERSHIP-FLAGS...: starts nodeN (raft id N) with its own dirs, ports and log.
start_node() {
  local n=$1; shift
  mkdir -p "$tmp/node$n"
  "$bin" --http-port "${http_port[$n]}" --bind-host 127.0.0.1 --cluster-port "${cluster_port[$n]}" \
    --node-id "node$n" --advertise-addr "127.0.0.1:${cluster_port[$n]}" "$@" \
    --session-db-path "$tmp/node$n/db" --s3-bucket "$bucket" --s3-endpoint "http://127.0.0.1:$moto_port" \
    --s3-force-path-style --cache-dir "$tmp/node$n/cache" --cluster-secret-file "$tmp/secret" \
    --max-concurrent-executions 1 --log warn >>"$tmp/node$n.log" 2>&1 &
  pid[$n]=$!
}

# kill_node N [SIGNAL]: kill -9 by default, as a lost pod; TERM as a pod deleted on purpose
# (graceful shutdown, forced after 20 s like a short terminationGracePeriod). The front keeps
# the node until set_front says otherwise.
kill_node() {
  local n=$1 signal=${2:-KILL} deadline=$((SECONDS + 20))
  kill "-$signal" "${pid[$n]}" || true
  while kill -0 "${pid[$n]}" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  kill -9 "${pid[$n]}" || true
  wait "${pid[$n]}" || true
  unset "pid[$n]"
} 2>/dev/null # also silences bash's "Killed" job notice

# set_front N...: the front's upstreams become these nodes (atomic rename, like an endpoint update).
set_front() {
  local n
  for n in "$@"; do echo "http://127.0.0.1:${http_port[$n]}"; done >"$tmp/upstreams.new"
  mv "$tmp/upstreams.new" "$tmp/upstreams"
}

ready() { curl -fsS "http://127.0.0.1:${http_port[$1]}/readyz"; }
status() { curl -fsS "http://127.0.0.1:${http_port[$1]}/cluster/status"; }

# voters_are N "1,2,3": nodeN sees a leader and exactly these voters, no learners.
voters_are() {
  status "$1" | "$python" -c '
import json, sys
s = json.load(sys.stdin)
want = sorted(int(v) for v in sys.argv[1].split(","))
voters = sorted(int(v) for v in s.get("voters") or [])
sys.exit(0 if s.get("leader") is not None and voters == want and not s.get("learners") else 1)
' "$2"
}

# healthy "1,2,3": every listed node ready and agreeing on the voter set.
healthy() {
  local n
  for n in ${1//,/ }; do
    wait_for "node$n to be ready" 60 ready "$n"
    wait_for "node$n to see voters {$1}" 60 voters_are "$n" "$1"
  done
  ok "nodes {$1} ready, one leader, voters {$1}"
}

# client ARGS...: the kind suite's client against the front (MCP_URL overrides); prints its
# closing JSON line, and its stderr goes to the terminal so that a failure says why.
client() {
  MCP_URL="${MCP_URL:-http://127.0.0.1:$front_port/mcp}" STATE_DIR="$tmp/state" WAIT_MS=10000 \
    node "$tmp/client/client.mjs" "$@" | tail -n 1
}

# counter NAME: the last acknowledged counter of a session (the client's saved state).
counter() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["counter"])' "$tmp/state/$1.json"; }
counter_above() { [ "$(counter "$1")" -gt "$2" ]; }
# progress WHEN: waits for two more acknowledged writes of s2 (the background writer).
progress() {
  local now
  now=$(counter s2)
  wait_for "writes to s2 $1" 90 counter_above s2 $((now + 1))
}

# node_of JSON: the raft id in the execution id (<node>.<raft id>.<uuid>) of a client line.
node_of() { sed -n 's/.*"execution_id":"[^".]*\.\([0-9]*\)\..*/\1/p' <<<"$1"; }

[ -x "$bin" ] || fail "$bin is not executable"
[ -x "$moto" ] || fail "no moto_server at $moto (make tools)"
[ -d "$node_modules/@modelcontextprotocol/sdk" ] || fail "no MCP SDK in $node_modules (make tools)"
# The same client file as the kind suite, next to the SDK (ES imports ignore NODE_PATH).
mkdir -p "$tmp/client" "$tmp/state"
cp "$root/e2e/kind/client.mjs" "$tmp/client/client.mjs"
ln -s "$node_modules" "$tmp/client/node_modules"

log "moto (S3) and bucket $bucket"
read -r moto_port p1 p2 p3 p4 p5 c1 c2 c3 c4 c5 <<<"$(free_ports 11)"
http_port=([1]=$p1 [2]=$p2 [3]=$p3 [4]=$p4 [5]=$p5)
cluster_port=([1]=$c1 [2]=$c2 [3]=$c3 [4]=$c4 [5]=$c5)
"$moto" -H 127.0.0.1 -p "$moto_port" >"$tmp/moto.log" 2>&1 &
pid[moto]=$!
wait_for "moto on port $moto_port" 30 curl -fsS "http://127.0.0.1:$moto_port/moto-api/"
"$python" -c 'import boto3, sys
boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket=sys.argv[2])' \
  "http://127.0.0.1:$moto_port" "$bucket"
ok "moto on 127.0.0.1:$moto_port, bucket $bucket created"

log "three-node raft cluster"
"$python" -c 'import secrets; print(secrets.token_hex(32))' >"$tmp/secret"
secret=$(cat "$tmp/secret")
peers="1@127.0.0.1:$c1,2@127.0.0.1:$c2,3@127.0.0.1:$c3"
for n in 1 2 3; do start_node "$n" --peers "$peers"; done
healthy 1,2,3

log "round-robin front"
set_front 1 2 3
node "$here/proxy.mjs" "$tmp/upstreams" "$tmp/front.port" >"$tmp/front.log" 2>&1 &
pid[front]=$!
wait_for "the front to listen" 10 test -s "$tmp/front.port"
front_port=$(cat "$tmp/front.port")
ok "front on 127.0.0.1:$front_port → nodes 1 2 3"

log "stateless run"
client stateless | grep -q '"ok":true' || fail "stateless run"
ok "stateless 1 + 2 = 3 through the front"

log "session across calls, then across the loss of the node that served it"
client session-start s1 | grep -q '"ok":true' || fail "session start"
served=$(client session-step s1 4)
grep -q '"counter":5' <<<"$served" || fail "session steps: $served"
ok "session s1 built over 5 calls"
victim=$(node_of "$served")
[ -n "${pid[$victim]:-}" ] || fail "no live node named by the execution id: $served"
kill_node "$victim"
ok "killed node$victim (kill -9), which served the last call"
client session-step s1 2 | grep -q '"counter":7' || fail "session continued after node$victim was killed"
after=$(client session-resume s1)
grep -q '"counter":8' <<<"$after" || fail "session resumed by name only: $after"
[ "$(node_of "$after")" != "$victim" ] || fail "a dead node served: $after"
client session-check s1 8 | grep -q '"ok":true' || fail "session state after node loss"
client session-log s1 | grep -q '"ok":true' || fail "session log after node loss"
ok "session s1 continued on other nodes: counter 8, full history in the heap, 8 runs in the log"
survivors=()
for n in 1 2 3; do [ "$n" = "$victim" ] || survivors+=("$n"); done
set_front "${survivors[@]}"
start_node "$victim" --peers "$peers"
healthy 1,2,3
set_front 1 2 3
MCP_URL="http://127.0.0.1:${http_port[$victim]}/mcp" client session-log s1 | grep -q '"ok":true' ||
  fail "restarted node$victim lacks the session log"
ok "node$victim restarted on its data, caught up with the session log"

log "scale 3 → 5 → 3 with writes in flight"
client session-start s2 | grep -q '"ok":true' || fail "session s2 start"
# The writer steps s2 in batches until told to stop, so writes are in flight for the whole
# scaling however long it takes; a failed step stops it with its error in writer.log.
(
  until [ -e "$tmp/stop-writer" ]; do client session-step s2 3 >/dev/null || exit 1; done
) 2>"$tmp/writer.log" &
writer=$!
wait_for "the first writes of s2" 30 counter_above s2 1
before=$(counter s2)
for n in 4 5; do start_node "$n" --join "127.0.0.1:$c1"; done
healthy 1,2,3,4,5
ok "node4 and node5 joined through node1 and were promoted to voters"
set_front 1 2 3 4 5
progress "with five nodes behind the front"
# Removal is asked of a node that is not the one removed (any member forwards it to the
# leader), then the process is stopped (SIGTERM), as the operator and the StatefulSet do on
# scale-down.
for n in 5 4; do
  mapfile -t remaining < <(seq 1 $((n - 1)))
  set_front "${remaining[@]}"
  code=$(curl -sS -o "$tmp/remove$n.json" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $secret" "http://127.0.0.1:${http_port[$((n - 2))]}/cluster/remove/$n")
  [[ "$code" = 2?? ]] || fail "POST /cluster/remove/$n on node$((n - 2)): HTTP $code $(cat "$tmp/remove$n.json")"
  kill_node "$n" "${E2E_REMOVE_SIGNAL:-TERM}"
  progress "after node$n was removed"
done
healthy 1,2,3
ok "node5 and node4 removed from the voters, then stopped"
during=$(counter s2)
touch "$tmp/stop-writer"
wait "$writer" || { cat "$tmp/writer.log" >&2; fail "writes during scaling"; }
total=$(counter s2)
[ "$during" -gt "$before" ] || fail "no write of s2 was acknowledged while scaling"
client session-check s2 "$total" | grep -q '"ok":true' || fail "session s2 lost writes while scaling"
for n in 1 2 3; do
  MCP_URL="http://127.0.0.1:${http_port[$n]}/mcp" client session-log s2 | grep -q '"ok":true' ||
    fail "node$n's session log lacks acknowledged writes"
done
ok "$((total - 1)) writes ($((during - before)) during 3 → 5 → 3), every one in the session log on nodes 1, 2 and 3"

# Retried calls are allowed (a node leaving may drop an answer) but worth knowing about.
if grep -q "retrying" "$tmp/writer.log"; then
  echo "note: the writer retried calls:"
  grep "retrying" "$tmp/writer.log"
fi

log "WasmModule"
# As the operator delivers a verified module: a --wasm-config entry with a URL and its sha256,
# fetched and checked at startup (here from a loopback web server), then used by a run.
wasm=$root/examples/sqlite-wasm/sqlite3.wasm
[ -f "$wasm" ] || fail "$wasm is missing: run make sqlite-wasm first"
mkdir -p "$tmp/www" "$tmp/node6"
cp "$wasm" "$tmp/www/sqlite3.wasm"
read -r www_port p6 <<<"$(free_ports 2)"
"$python" -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$www_port" >"$tmp/www.log" 2>&1 &
pid[www]=$!
sha=$(sha256sum "$wasm" | cut -d' ' -f1)
printf '{"sqlite": {"url": "http://127.0.0.1:%s/sqlite3.wasm", "sha256": "%s"}}\n' "$www_port" "$sha" >"$tmp/wasm-config.json"
wait_for "the module server" 20 curl -fsS -o /dev/null "http://127.0.0.1:$www_port/sqlite3.wasm"
"$bin" --http-port "$p6" --stateless --session-db-path "$tmp/node6/db" --wasm-config "$tmp/wasm-config.json" \
  --max-concurrent-executions 1 --log warn >>"$tmp/node6.log" 2>&1 &
pid[6]=$!
wait_for "node6 with the module" 60 curl -fsS "http://127.0.0.1:$p6/readyz"
"$python" - "$root/examples/sqlite-wasm/sqlite.js" >"$tmp/sqlite-run.json" <<'PY'
import json, sys
code = open(sys.argv[1]).read() + """
const db = openSqlite();
db.query("CREATE TABLE t (n INTEGER, s TEXT)");
db.query("INSERT INTO t VALUES (?, ?), (?, ?)", [1, "one", 2, "two"]);
const rows = db.query("SELECT n, s FROM t ORDER BY n DESC");
db.close();
rows
"""
print(json.dumps({"code": code}))
PY
result=$(curl -fsS "http://127.0.0.1:$p6/api/exec" -H 'content-type: application/json' --data @"$tmp/sqlite-run.json")
echo "$result" | grep -qF '"result":"[{\"n\":2,\"s\":\"two\"},{\"n\":1,\"s\":\"one\"}]"' ||
  fail "the SQLite module run: $result"
ok "a --wasm-config module fetched by URL and verified by sha256 ran SQL in a run"

echo "$passed passed, 0 failed ($((SECONDS - started)) s)"
