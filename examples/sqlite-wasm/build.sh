#!/usr/bin/env bash
# Builds sqlite3.wasm (wasm32-wasi, reactor: no main, `_initialize` runs the C
# constructors) into $1 with `zig cc` from the SQLite amalgamation bundled in the
# libsqlite3-sys crate. Called by `make sqlite-wasm`, which provides zig (PyPI ziglang),
# CACHE, CARGO_HOME and SQLITE_SYS_VERSION. The result is cached under
# $CACHE/sqlite-wasm, keyed by everything that goes into it.
set -euo pipefail
out=${1:?usage: build.sh OUT.wasm}
here=$(cd "$(dirname "$0")" && pwd)
cache=${CACHE:?}/sqlite-wasm
version=${SQLITE_SYS_VERSION:?}
mkdir -p "$cache"

# The crate's source: fetched by cargo (crates.io) through a one-dependency manifest.
find_crate() {
  local c
  for c in "${CARGO_HOME:?}"/registry/cache/*/libsqlite3-sys-"$version".crate; do
    if [ -f "$c" ]; then echo "$c"; return; fi
  done
}
crate=$(find_crate)
if [ -z "$crate" ]; then
  manifest="$cache/fetch"
  mkdir -p "$manifest/src"
  printf '[package]\nname = "sqlite-src"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nlibsqlite3-sys = { version = "=%s", default-features = false }\n' \
    "$version" > "$manifest/Cargo.toml"
  : > "$manifest/src/lib.rs"
  cargo fetch --manifest-path "$manifest/Cargo.toml" >&2
  crate=$(find_crate)
  [ -n "$crate" ] || { echo "cargo fetch did not download libsqlite3-sys $version" >&2; exit 1; }
fi
src="$cache/libsqlite3-sys-$version"
if [ ! -f "$src/sqlite3/sqlite3.c" ]; then
  tar -xzf "$crate" -C "$cache" "libsqlite3-sys-$version/sqlite3"
fi

# Only what an in-memory database needs; memvfs.c is the whole OS layer.
flags=(
  -target wasm32-wasi -O2 -s -mexec-model=reactor
  -DSQLITE_OS_OTHER=1 -DSQLITE_THREADSAFE=0 -DSQLITE_TEMP_STORE=3
  -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL -DSQLITE_OMIT_SHARED_CACHE
  -DSQLITE_OMIT_LOCALTIME -DSQLITE_OMIT_DEPRECATED -DSQLITE_DEFAULT_MEMSTATUS=0
  -DSQLITE_DQS=0 -DSQLITE_ENABLE_MATH_FUNCTIONS
)
exports=(
  malloc free sqlite3_libversion sqlite3_open sqlite3_close_v2 sqlite3_errmsg
  sqlite3_exec sqlite3_changes sqlite3_prepare_v2 sqlite3_step sqlite3_reset
  sqlite3_finalize sqlite3_column_count sqlite3_column_name sqlite3_column_type
  sqlite3_column_int64 sqlite3_column_double sqlite3_column_text sqlite3_column_bytes
  sqlite3_bind_parameter_count sqlite3_bind_null sqlite3_bind_int64 sqlite3_bind_double
  sqlite3_bind_text
)
run_zig() { python3 -m ziglang "$@"; }
key=$( (zig_version=$(run_zig version); echo "$zig_version $version ${flags[*]} ${exports[*]}"; cat "$here/memvfs.c" "$0") | sha256sum | cut -c1-16)
cached="$cache/sqlite3-$key.wasm"
if [ ! -f "$cached" ]; then
  ldflags=()
  for e in "${exports[@]}"; do ldflags+=("-Wl,--export=$e"); done
  echo "building sqlite3.wasm (SQLite from libsqlite3-sys $version, zig $(run_zig version))" >&2
  run_zig cc "${flags[@]}" -I "$src/sqlite3" "$src/sqlite3/sqlite3.c" "$here/memvfs.c" \
    "${ldflags[@]}" -o "$cached.tmp"
  mv "$cached.tmp" "$cached"
fi
mkdir -p "$(dirname "$out")"
cp "$cached" "$out"
echo "$out: $(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -c1-64)" >&2
