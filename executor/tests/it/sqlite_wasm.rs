//! The SQLite example (examples/sqlite-wasm) end to end: the real server preloading
//! sqlite3.wasm, the example's JS wrapper sent as part of the run's code, and
//! CREATE/INSERT/SELECT through `/api/exec`, stateless and in a stateful session.
//! `make sqlite-wasm` builds the module; MCP_V8_SQLITE_WASM names it (the Makefile sets it).

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::server::Server;

const WRAPPER: &str = include_str!("../../../examples/sqlite-wasm/sqlite.js");

fn sqlite_wasm() -> PathBuf {
    let path = std::env::var_os("MCP_V8_SQLITE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sqlite-wasm/sqlite3.wasm")
        });
    assert!(
        path.is_file(),
        "{} is missing: run `make sqlite-wasm` (or set MCP_V8_SQLITE_WASM)",
        path.display()
    );
    path
}

async fn start(stateless: bool) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let module = format!("--wasm-module=sqlite={}", sqlite_wasm().display());
    let mut args = vec![module.as_str()];
    if stateless {
        args.push("--stateless");
    }
    (Server::start_in(dir.path(), &args).await, dir)
}

async fn run(s: &Server, code: &str, heap: Option<&str>) -> Value {
    let (status, r) = s
        .exec(json!({ "code": format!("{WRAPPER}\n{code}"), "heap": heap }))
        .await;
    assert_eq!(
        (status, r["status"].as_str()),
        (200, Some("completed")),
        "{r}"
    );
    r
}

const CRUD: &str = r#"
const db = openSqlite();
db.query("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age REAL)");
db.query("INSERT INTO pets (name, age) VALUES (?, ?), (?, ?)", ["Rex", 3.5, "Miaou", null]);
const inserted = db.changes();
db.query("INSERT INTO pets (name, age) VALUES ('Ünïcødé 🐍', 7)");
const rows = db.query("SELECT id, name, age FROM pets ORDER BY id");
const agg = db.query("SELECT count(*) AS n, sum(age) AS total, sqrt(16) AS four FROM pets")[0];
db.close();
JSON.stringify({ version: db.version, inserted, rows, agg })
"#;

#[tokio::test(flavor = "multi_thread")]
async fn create_insert_select_stateless() {
    let (s, _dir) = start(true).await;
    let r = run(&s, CRUD, None).await;
    let out: Value = serde_json::from_str(r["result"].as_str().unwrap()).unwrap();
    assert!(out["version"].as_str().unwrap().starts_with("3."), "{out}");
    assert_eq!(out["inserted"], 2);
    assert_eq!(
        out["rows"],
        json!([
            {"id": 1, "name": "Rex", "age": 3.5},
            {"id": 2, "name": "Miaou", "age": null},
            {"id": 3, "name": "Ünïcødé 🐍", "age": 7},
        ])
    );
    assert_eq!(out["agg"], json!({"n": 3, "total": 10.5, "four": 4}));
    // SQL errors surface as the run's error.
    let (status, r) = s
        .exec(json!({ "code": format!("{WRAPPER}\nopenSqlite().query('SELEC 1')") }))
        .await;
    assert_eq!((status, r["status"].as_str()), (200, Some("failed")), "{r}");
    assert!(r["error"].as_str().unwrap().contains("syntax error"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stateful_session_keeps_plain_results_between_runs() {
    let (s, _dir) = start(false).await;
    // The database lives for one run; the session keeps what the code put in JS values.
    let first = "var names = openSqlite().query(\"SELECT 'a' AS n UNION SELECT 'b'\").map(r => r.n); names.join()";
    let r = run(&s, first, None).await;
    assert_eq!(r["result"], "a,b");
    let again = "const db = openSqlite(); db.query('CREATE TABLE t (n TEXT)'); \
                 for (const n of names) db.query('INSERT INTO t VALUES (?)', [n]); \
                 names = db.query(\"SELECT group_concat(upper(n), '') AS s FROM t\").map(r => r.s); db.close(); names.join()";
    let r = run(&s, again, r["heap"].as_str()).await;
    assert_eq!(r["result"], "AB");
    let r = run(
        &s,
        "names.concat(typeof __wasm_sqlite).join()",
        r["heap"].as_str(),
    )
    .await;
    assert_eq!(r["result"], "AB,object");
    assert!(r["heap"].is_string(), "{r}");
}
