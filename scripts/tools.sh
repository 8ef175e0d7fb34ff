#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh machine, idempotently and quickly
# when everything is already there. Called by `make tools` with the package lists that the
# Makefile fragments (mk/*.mk) collect:
#   APT_PACKAGES   Debian packages
#   PIP_PACKAGES   PyPI requirements, installed into $CACHE/venv
#   NPM_PACKAGES   npm packages, installed into $CACHE/node
set -euo pipefail
cache=${CACHE:?}
mkdir -p "$cache/stamps"

need=()
for p in ${APT_PACKAGES:-}; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "tools: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -n "${PIP_PACKAGES:-}" ]; then
  stamp="$cache/stamps/pip-$(echo "$PIP_PACKAGES" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    [ -x "$cache/venv/bin/python" ] || python3 -m venv "$cache/venv"
    echo "tools: pip install $PIP_PACKAGES"
    # shellcheck disable=SC2086
    "$cache/venv/bin/pip" install -q --disable-pip-version-check $PIP_PACKAGES
    touch "$stamp"
  fi
fi

if [ -n "${NPM_PACKAGES:-}" ]; then
  stamp="$cache/stamps/npm-$(echo "$NPM_PACKAGES" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    mkdir -p "$cache/node"
    echo "tools: npm install $NPM_PACKAGES"
    # shellcheck disable=SC2086
    (cd "$cache/node" && [ -f package.json ] || echo '{"private":true}' > package.json) 
    (cd "$cache/node" && npm install --silent --no-audit --no-fund $NPM_PACKAGES)
    touch "$stamp"
  fi
fi
