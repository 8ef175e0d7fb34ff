// SQLite for run_js: paste this before your code. It needs a server started with
//   mcp-v8 --wasm-module sqlite=examples/sqlite-wasm/sqlite3.wasm
// which makes the compiled module the global `__wasm_sqlite` (it has WASI imports, so the
// code instantiates it). Databases are in memory and live as long as the run; keep
// results in plain JS values if a session should remember them, and in stateful sessions
// call db.close() before the run ends when `db` is a top-level binding.
//
//   const db = openSqlite();
//   db.query("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)");
//   db.query("INSERT INTO t (name) VALUES (?), (?)", ["a", "b"]);
//   db.query("SELECT * FROM t");   // [{id: 1, name: "a"}, {id: 2, name: "b"}]
function openSqlite(module = globalThis.__wasm_sqlite) {
  if (!(module instanceof WebAssembly.Module)) {
    throw new Error("no __wasm_sqlite: start mcp-v8 with --wasm-module sqlite=<path to sqlite3.wasm>");
  }
  let x;
  const view = () => new DataView(x.memory.buffer);
  // The two WASI calls the build imports (memvfs.c needs only a clock and entropy);
  // anything else a different build imports answers ENOSYS.
  const wasi = {
    clock_time_get(_id, _precision, out) {
      view().setBigUint64(out, BigInt(Date.now()) * 1000000n, true);
      return 0;
    },
    random_get(ptr, len) {
      for (let off = 0; off < len; off += 65536) {
        crypto.getRandomValues(new Uint8Array(x.memory.buffer, ptr + off, Math.min(65536, len - off)));
      }
      return 0;
    },
  };
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    imports[imp.module] ??= {};
    imports[imp.module][imp.name] = wasi[imp.name] ?? (() => 52);
  }
  x = new WebAssembly.Instance(module, imports).exports;
  x._initialize?.();

  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const cstr = (s) => {
    const b = enc.encode(String(s));
    const p = x.malloc(b.length + 1);
    const m = new Uint8Array(x.memory.buffer);
    m.set(b, p);
    m[p + b.length] = 0;
    return p;
  };
  const readCstr = (p) => {
    const m = new Uint8Array(x.memory.buffer);
    let e = p;
    while (m[e] !== 0) e++;
    return dec.decode(m.subarray(p, e));
  };
  const u32 = (p) => view().getUint32(p, true);
  const slot = x.malloc(8);
  const check = (rc) => {
    if (rc !== 0) throw new Error(`SQLite error ${rc}: ${readCstr(x.sqlite3_errmsg(db))}`);
  };

  const name = cstr(":memory:");
  const openRc = x.sqlite3_open(name, slot);
  x.free(name);
  const db = u32(slot);
  check(openRc);

  const bind = (stmt, params) => {
    const n = x.sqlite3_bind_parameter_count(stmt);
    for (let i = 0; i < n; i++) {
      const v = params[i];
      if (v === null || v === undefined) check(x.sqlite3_bind_null(stmt, i + 1));
      else if (typeof v === "bigint") check(x.sqlite3_bind_int64(stmt, i + 1, v));
      else if (typeof v === "boolean") check(x.sqlite3_bind_int64(stmt, i + 1, v ? 1n : 0n));
      else if (typeof v === "number" && Number.isInteger(v)) check(x.sqlite3_bind_int64(stmt, i + 1, BigInt(v)));
      else if (typeof v === "number") check(x.sqlite3_bind_double(stmt, i + 1, v));
      else {
        const b = enc.encode(String(v));
        const p = x.malloc(b.length + 1);
        new Uint8Array(x.memory.buffer).set(b, p);
        // SQLITE_TRANSIENT (-1): SQLite copies the text, so it is freed right away.
        const rc = x.sqlite3_bind_text(stmt, i + 1, p, b.length, -1);
        x.free(p);
        check(rc);
      }
    }
  };
  const column = (stmt, i) => {
    switch (x.sqlite3_column_type(stmt, i)) {
      case 1: {
        const v = x.sqlite3_column_int64(stmt, i);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 2:
        return x.sqlite3_column_double(stmt, i);
      case 5:
        return null;
      default: {
        const p = x.sqlite3_column_text(stmt, i);
        const len = x.sqlite3_column_bytes(stmt, i);
        return dec.decode(new Uint8Array(x.memory.buffer, p, len));
      }
    }
  };

  return {
    version: readCstr(x.sqlite3_libversion()),
    /** Runs every statement of `sql` (`params` bind to each); the last one's rows. */
    query(sql, params = []) {
      const text = cstr(sql);
      let rows = [];
      let cur = text;
      try {
        for (;;) {
          check(x.sqlite3_prepare_v2(db, cur, -1, slot, slot + 4));
          const stmt = u32(slot);
          cur = u32(slot + 4);
          if (stmt === 0) break; // only whitespace or comments left
          try {
            bind(stmt, params);
            rows = [];
            const n = x.sqlite3_column_count(stmt);
            const names = Array.from({ length: n }, (_, i) => readCstr(x.sqlite3_column_name(stmt, i)));
            let rc;
            while ((rc = x.sqlite3_step(stmt)) === 100) {
              const row = {};
              for (let i = 0; i < n; i++) row[names[i]] = column(stmt, i);
              rows.push(row);
            }
            if (rc !== 101) check(rc);
          } finally {
            x.sqlite3_finalize(stmt);
          }
        }
      } finally {
        x.free(text);
      }
      return rows;
    },
    /** Rows changed by the last INSERT, UPDATE or DELETE. */
    changes: () => x.sqlite3_changes(db),
    /** Closes the database and lets go of the instance (needed before a stateful run
     *  ends if `db` stays reachable: heap snapshots cannot hold WebAssembly functions). */
    close() {
      const rc = x.sqlite3_close_v2(db);
      x = null;
      return rc;
    },
  };
}
