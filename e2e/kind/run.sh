#!/usr/bin/env bash
# kind end-to-end suite (`make e2e-kind`; not part of `make test`). Needs Docker, kind,
# kubectl and helm; it cannot run on the development machines, which have no Docker engine
# (`make test-chart` shellchecks this script and validates every manifest it applies).
#
# Creates a kind cluster, builds and loads both images, installs the chart, deploys the
# in-cluster S3 store (MinIO) and a three-replica raft McpV8Cluster, waits for Ready, then,
# through the client Service with the MCP TypeScript SDK (client.mjs in a pod): runs
# stateless code; builds a session over several calls, deletes the pod that served it and
# continues on another; scales 3→5→3 with writes in flight; applies a WasmModule and calls
# its export. Status conditions are asserted along the way. Logs go to $ARTIFACTS on
# failure; the cluster is deleted at the end unless KEEP_CLUSTER=1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/e2e/kind
cluster=${KIND_CLUSTER:-mcp-v8-e2e}
node_image=${KIND_NODE_IMAGE:-kindest/node:v1.33.1}
registry=${IMAGE_REGISTRY:-ghcr.io/mcp-v8}
tag=${IMAGE_TAG:-e2e}
helm=${HELM:-helm}
ns=e2e
artifacts=${ARTIFACTS:-${TMPDIR:-/tmp}/mcp-v8-e2e-kind}
operator_image=$registry/mcp-v8-operator:$tag
executor_image=$registry/mcp-v8:$tag
passed=0
mkdir -p "$artifacts"

for tool in docker kind kubectl "$helm" openssl; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool not found on PATH" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "e2e-kind: no Docker engine answers (docker info failed)" >&2; exit 1; }

log() { printf '\n== %s\n' "$*"; }
ok() { passed=$((passed + 1)); echo "ok $passed - $1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
k() { kubectl --context "kind-$cluster" "$@"; }
kn() { k -n "$ns" "$@"; }

collect_logs() {
  mkdir -p "$artifacts"
  echo "collecting logs into $artifacts" >&2
  k get all,mcpv8clusters,wasmmodules,pdb,networkpolicies -A -o wide >"$artifacts/objects.txt" 2>&1 || true
  kn get mcpv8clusters,wasmmodules -o yaml >"$artifacts/custom-resources.yaml" 2>&1 || true
  kn describe pods >"$artifacts/pods.txt" 2>&1 || true
  k get events -A --sort-by=.lastTimestamp >"$artifacts/events.txt" 2>&1 || true
  k -n mcp-v8-system logs deployment/mcp-v8-operator --all-containers >"$artifacts/operator.log" 2>&1 || true
  local pod
  for pod in $(kn get pods -o name 2>/dev/null); do
    kn logs "$pod" --all-containers >"$artifacts/${pod#pod/}.log" 2>&1 || true
    kn logs "$pod" --all-containers --previous >"$artifacts/${pod#pod/}.previous.log" 2>/dev/null || true
  done
  kind export logs "$artifacts/kind" --name "$cluster" >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    collect_logs
    echo "$passed passed, 1 failed"
  fi
  if [ "${KEEP_CLUSTER:-0}" != 1 ]; then
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every 2 s until it succeeds.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 2
  done
}

jsonpath() { kn get "$1" -o "jsonpath={$2}"; }
condition() { jsonpath "$1" ".status.conditions[?(@.type==\"$2\")].status"; }
ready_replicas_are() { [ "$(jsonpath mcpv8cluster/shared .status.readyReplicas)" = "$1" ]; }
sts_replicas_are() { [ "$(jsonpath statefulset/shared .status.replicas)" = "$1" ]; }
lists_module() { jsonpath "mcpv8cluster/$1" .status.modules | grep -q "$2"; }

# assert_healthy REPLICAS: Ready True, Degraded not True, replicas ready, a raft leader.
assert_healthy() {
  kn wait mcpv8cluster/shared --for=condition=Ready --timeout=10m >/dev/null ||
    fail "shared never became Ready"
  wait_for "shared to report $1 ready replicas" 300 ready_replicas_are "$1"
  [ "$(condition mcpv8cluster/shared Degraded)" != True ] || fail "shared is Degraded"
  [ -n "$(jsonpath mcpv8cluster/shared .status.raftLeader)" ] || fail "shared reports no raft leader"
  [ -n "$(jsonpath mcpv8cluster/shared .status.endpoint)" ] || fail "shared reports no endpoint"
  ok "shared Ready with $1 replicas, a raft leader and an endpoint"
}

# client ARGS...: runs client.mjs in the client pod; prints its closing JSON line.
client() {
  kn exec e2e-client -c client -- env MCP_URL="${MCP_URL:-http://shared:8080/mcp}" \
    node /work/client.mjs "$@" | tail -n 1
}

log "kind cluster $cluster ($node_image)"
kind create cluster --name "$cluster" --image "$node_image" --wait 180s
ok "kind cluster created"

log "images $operator_image, $executor_image"
make -C "$root" images IMAGE_REGISTRY="$registry" IMAGE_TAG="$tag"
kind load docker-image --name "$cluster" "$operator_image" "$executor_image"
ok "images built and loaded"

log "operator chart"
"$helm" --kube-context "kind-$cluster" install mcp-v8-operator "$root/charts/mcp-v8-operator" \
  --namespace mcp-v8-system --create-namespace --wait --timeout 5m \
  --set image.repository="$registry/mcp-v8-operator" --set image.tag="$tag"
ok "chart installed, operator rolled out"

log "S3 store and a three-replica raft cluster"
k create namespace "$ns"
kn apply -f "$root/manifests/examples/s3-store.yaml"
kn wait --for=condition=complete job/minio-create-bucket --timeout=5m >/dev/null ||
  fail "the bucket was not created"
ok "MinIO up, bucket created"
secret=$(openssl rand -hex 32)
sed -e "s|ghcr.io/mcp-v8/mcp-v8:0.1.0|$executor_image|" \
  -e "s|replace-with-32-random-bytes-of-hex-000000|$secret|" \
  "$root/manifests/examples/raft-s3.yaml" | kn apply -f -
[ "$(condition mcpv8cluster/shared Ready)" != True ] || fail "shared Ready before any pod ran"
assert_healthy 3

log "MCP client"
kn create configmap e2e-client --from-file=client.mjs="$here/client.mjs"
kn apply -f "$here/client-pod.yaml"
kn wait pod/e2e-client --for=condition=Ready --timeout=5m >/dev/null || fail "client pod not Ready"

log "stateless run"
client stateless | grep -q '"ok":true' || fail "stateless run"
ok "stateless 1 + 2 = 3 through the Service"

log "session across calls, then across the loss of the pod that served it"
client session-start s1 | grep -q '"ok":true' || fail "session start"
served=$(client session-step s1 4)
grep -q '"counter":5' <<<"$served" || fail "session steps: $served"
ok "session s1 built over 5 calls"
# Execution ids name the node that ran them, and node ids are pod names.
victim=
for pod in $(kn get pods -l app.kubernetes.io/instance=shared -o name); do
  if grep -q "${pod#pod/}" <<<"$served"; then victim=${pod#pod/}; fi
done
[ -n "$victim" ] || fail "no executor pod name in the execution id: $served"
kn delete pod "$victim" --wait=true >/dev/null
ok "deleted $victim, which served the session"
client session-step s1 3 | grep -q '"counter":8' || fail "session continued after $victim was deleted"
client session-check s1 8 | grep -q '"ok":true' || fail "session check after pod loss"
ok "session s1 continued on another pod (counter 8)"
assert_healthy 3

log "scale 3 → 5 → 3 with writes in flight"
client session-start s2 | grep -q '"ok":true' || fail "session s2 start"
client session-step s2 40 >"$artifacts/writer.log" 2>&1 &
writer=$!
kn scale mcpv8cluster/shared --replicas=5
assert_healthy 5
kn scale mcpv8cluster/shared --replicas=3
wait_for "the StatefulSet to shrink to 3" 300 sts_replicas_are 3
assert_healthy 3
wait "$writer" || { cat "$artifacts/writer.log" >&2; fail "writes during scaling"; }
client session-check s2 41 | grep -q '"ok":true' || fail "session s2 lost writes while scaling"
ok "40 writes during 3 → 5 → 3, none lost"

log "WasmModule"
sed -e "s|ghcr.io/mcp-v8/mcp-v8:0.1.0|$executor_image|" \
  "$root/manifests/examples/wasm-module.yaml" | kn apply -f -
kn wait wasmmodule/calc --for=condition=Ready --timeout=5m >/dev/null || fail "WasmModule calc not Ready"
[ "$(jsonpath wasmmodule/calc .status.sha256)" = f61fd62f57c41269c3c23f360eeaf1090b1db9c38651106674d48bc65dba88ba ] ||
  fail "WasmModule calc digest"
jsonpath wasmmodule/calc .status.exports | grep -q add || fail "WasmModule calc exports no add"
ok "WasmModule calc verified (digest, exports)"
kn wait mcpv8cluster/with-modules --for=condition=Ready --timeout=10m >/dev/null ||
  fail "with-modules never became Ready"
lists_module with-modules calc || fail "with-modules does not list calc"
MCP_URL=http://with-modules:8080/mcp client eval 'calc.add(2, 3)' 5 | grep -q '"ok":true' ||
  fail "calc.add(2, 3) through with-modules"
ok "calc.add(2, 3) = 5 in a cluster selecting the module"
kn patch mcpv8cluster/shared --type merge -p '{"spec":{"wasmModules":{"matchLabels":{"mcpv8.dev/pack":"std"}}}}'
wait_for "shared to list module calc" 300 lists_module shared calc
kn rollout status statefulset/shared --timeout=10m >/dev/null || fail "shared did not roll out the module"
assert_healthy 3
client eval 'calc.add(20, 22)' 42 | grep -q '"ok":true' || fail "calc.add in shared after the roll-out"
client session-check s1 8 | grep -q '"ok":true' || fail "session s1 after the module roll-out"
ok "shared rolled out the module; sessions survive the roll"

echo "$passed passed, 0 failed"
