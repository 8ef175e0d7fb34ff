# SQLite as a preloaded WebAssembly module (examples/sqlite-wasm): sqlite3.wasm is built for
# wasm32-wasi with `zig cc` (PyPI ziglang) from the SQLite amalgamation that the
# libsqlite3-sys crate bundles (fetched from crates.io by cargo into CARGO_HOME), plus a
# tiny in-memory VFS (examples/sqlite-wasm/memvfs.c). The build is cached under
# $(CACHE)/sqlite-wasm keyed by the sources and flags, so warm runs only copy it.
PIP_PACKAGES += ziglang==0.14.1
SQLITE_SYS_VERSION := 0.35.0
SQLITE_WASM_DIR := examples/sqlite-wasm
export MCP_V8_SQLITE_WASM ?= $(abspath $(SQLITE_WASM_DIR)/sqlite3.wasm)

.PHONY: sqlite-wasm test-sqlite-wasm
sqlite-wasm: tools
	CACHE="$(CACHE)" CARGO_HOME="$(CARGO_HOME)" SQLITE_SYS_VERSION="$(SQLITE_SYS_VERSION)" \
		$(SQLITE_WASM_DIR)/build.sh "$(MCP_V8_SQLITE_WASM)"

# The example end to end: CREATE/INSERT/SELECT through /api/exec on the real server.
test-sqlite-wasm: v8-cache sqlite-wasm
	$(CARGO) test -p mcp-v8 --test it sqlite_wasm

# The Rust suite includes the SQLite test, which needs the module built first.
test-rust: sqlite-wasm
