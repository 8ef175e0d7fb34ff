//! Preloaded WebAssembly modules (`--wasm-module`, `--wasm-config`) against the real
//! server: globals per the flags' contract, stateless and stateful sessions, and the
//! startup errors. Modules are tiny hand-assembled binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::{Server, free_port};

/// No imports; exports `add(i32, i32) -> i32` and a one-page memory `mem`.
pub const CALC: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, // header
    1, 7, 1, 96, 2, 127, 127, 1, 127, // type (i32, i32) -> i32
    3, 2, 1, 0, // one function of type 0
    5, 3, 1, 0, 1, // memory, min 1 page
    7, 13, 2, 3, 97, 100, 100, 0, 0, 3, 109, 101, 109, 2, 0, // exports add, mem
    10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11, // add = local.get 0 + local.get 1
];

/// Imports `env.f: (i32) -> i32`; exports `run(x) = f(x) + 1`.
pub const IMP: &[u8] = &[
    0, 97, 115, 109, 1, 0, 0, 0, // header
    1, 6, 1, 96, 1, 127, 1, 127, // type (i32) -> i32
    2, 9, 1, 3, 101, 110, 118, 1, 102, 0, 0, // import env.f
    3, 2, 1, 0, // one function of type 0
    7, 7, 1, 3, 114, 117, 110, 0, 1, // export run = func 1
    10, 11, 1, 9, 0, 32, 0, 16, 0, 65, 1, 106, 11, // f(x) + 1
];

pub fn write(dir: &Path, file: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, bytes).unwrap();
    p
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn flag(name: &str, path: &Path) -> String {
    format!("--wasm-module={name}={}", path.display())
}

async fn start(dir: &Path, stateless: bool, extra: &[String]) -> Server {
    let mut args: Vec<&str> = extra.iter().map(String::as_str).collect();
    if stateless {
        args.push("--stateless");
    }
    Server::start_in(dir, &args).await
}

/// A completed run's result and heap.
async fn ok(s: &Server, code: &str, heap: Option<&str>) -> (String, Option<String>) {
    let (status, r) = s.exec(json!({ "code": code, "heap": heap })).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (200, Some("completed")),
        "{r}"
    );
    (
        r["result"].as_str().unwrap().to_owned(),
        r["heap"].as_str().map(str::to_owned),
    )
}

/// Runs `mcp-v8` with `args` expecting it to refuse to start; its stderr.
pub fn startup_error(dir: &Path, args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
        .args(["--http-port", &free_port().to_string(), "--stateless"])
        .arg("--session-db-path")
        .arg(dir.join("db"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "mcp-v8 started with {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const USE_BOTH: &str = "[calc.add(2, 3), calc.exports.add(4, 5), __wasm_calc instanceof WebAssembly.Module, \
    typeof imp, new WebAssembly.Instance(__wasm_imp, { env: { f: (x) => x * 10 } }).exports.run(4), \
    calc.mem.buffer.byteLength, Object.keys(calc).join('+')].join()";

#[tokio::test(flavor = "multi_thread")]
async fn modules_are_globals_in_stateless_runs() {
    let dir = tempfile::tempdir().unwrap();
    let calc = write(dir.path(), "calc.wasm", CALC);
    let imp = write(dir.path(), "imp.wasm", IMP);
    let s = start(dir.path(), true, &[flag("calc", &calc), flag("imp", &imp)]).await;
    let (r, heap) = ok(&s, USE_BOTH, None).await;
    assert_eq!(r, "5,9,true,undefined,41,65536,add+mem");
    assert!(heap.is_none());
    // Every run gets a fresh instance: memory written by one run is not seen by the next.
    let poke = "new Uint8Array(calc.mem.buffer)[0]++";
    assert_eq!(ok(&s, poke, None).await.0, "0");
    assert_eq!(ok(&s, poke, None).await.0, "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stateful_session_uses_the_modules_every_run_and_keeps_the_facade() {
    let dir = tempfile::tempdir().unwrap();
    let calc = write(dir.path(), "calc.wasm", CALC);
    let imp = write(dir.path(), "imp.wasm", IMP);
    let s = start(dir.path(), false, &[flag("calc", &calc), flag("imp", &imp)]).await;
    let (r, heap) = ok(
        &s,
        &format!("var keep = calc; var n = calc.add(1, 1); {USE_BOTH}"),
        None,
    )
    .await;
    assert_eq!(r, "5,9,true,undefined,41,65536,add+mem");
    // The facade kept in the session forwards to the next run's instance.
    let (r, heap) = ok(
        &s,
        "n = keep.add(n, 10); [n, keep === calc].join()",
        heap.as_deref(),
    )
    .await;
    assert_eq!(r, "12,true");
    let code = "function useImp() { return new WebAssembly.Instance(__wasm_imp, { env: { f: (x) => x } }).exports.run(1) } \
                n = keep.add(n, useImp()); [n, typeof __wasm_calc, keep.mem.buffer.byteLength].join()";
    let (r, heap) = ok(&s, code, heap.as_deref()).await;
    assert_eq!(r, "14,object,65536");
    assert!(heap.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn keeping_raw_wasm_objects_in_a_session_ends_clearly_without_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let calc = write(dir.path(), "calc.wasm", CALC);
    let imp = write(dir.path(), "imp.wasm", IMP);
    let s = start(dir.path(), false, &[flag("calc", &calc), flag("imp", &imp)]).await;
    for (code, module) in [
        (
            "var inst = new WebAssembly.Instance(__wasm_imp, { env: { f: (x) => x } }); inst.exports.run(2)",
            "imp",
        ),
        ("var m = __wasm_calc; 3", "calc"),
        ("var mem = calc.mem; 3", "calc"),
        (
            "var add = new WebAssembly.Instance(__wasm_calc).exports.add; add(1, 2)",
            "calc",
        ),
    ] {
        let (status, r) = s.exec(json!({ "code": code })).await;
        assert_eq!(
            (status, r["status"].as_str()),
            (200, Some("completed")),
            "{r}"
        );
        assert_eq!(r["result"], "3", "the result survives: {r}");
        assert_eq!(r["heap"], Value::Null);
        // Found before snapshotting: the worker did not abort (that message says so).
        let e = r["error"].as_str().unwrap();
        let want = format!("still references the WebAssembly module {module}");
        assert!(e.contains(&want) && !e.contains("aborted"), "{e}");
    }
    // The same objects used inside a function, or the facade kept, save fine.
    let (r, heap) = ok(
        &s,
        "var add = calc.add; (() => new WebAssembly.Instance(__wasm_calc).exports.add(1, 2))()",
        None,
    )
    .await;
    assert_eq!((r.as_str(), heap.is_some()), ("3", true));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_global_made_unchangeable_keeps_the_heap_unsaved() {
    let dir = tempfile::tempdir().unwrap();
    let calc = write(dir.path(), "calc.wasm", CALC);
    let s = start(dir.path(), false, &[flag("calc", &calc)]).await;
    let code =
        "Object.defineProperty(globalThis, 'calc', { value: 1, configurable: false }); 'pinned'";
    let (status, r) = s.exec(json!({ "code": code })).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (200, Some("completed")),
        "{r}"
    );
    assert_eq!(
        (r["result"].as_str(), &r["heap"]),
        (Some("pinned"), &Value::Null)
    );
    let e = r["error"].as_str().unwrap();
    assert!(e.contains("globalThis.calc unchangeable"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_names_and_invalid_modules_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    let calc = write(dir.path(), "calc.wasm", CALC);
    let e = startup_error(dir.path(), &[flag("calc", &calc), flag("calc", &calc)]);
    assert!(e.contains("\"calc\" is defined twice"), "{e}");

    let config = dir.path().join("wasm.json");
    std::fs::write(&config, json!({ "calc": "calc.wasm" }).to_string()).unwrap();
    let e = startup_error(
        dir.path(),
        &[
            flag("calc", &calc),
            format!("--wasm-config={}", config.display()),
        ],
    );
    assert!(e.contains("\"calc\" is defined twice"), "{e}");

    let bad = write(dir.path(), "broken.wasm", &CALC[..CALC.len() - 3]);
    let e = startup_error(dir.path(), &[flag("b", &bad)]);
    assert!(
        e.contains(&bad.display().to_string()) && e.contains("not a valid module"),
        "{e}"
    );

    let e = startup_error(dir.path(), &[flag("m", &dir.path().join("missing.wasm"))]);
    assert!(e.contains("missing.wasm"), "{e}");

    let e = startup_error(dir.path(), &[flag("not-ident", &calc)]);
    assert!(e.contains("JavaScript identifier"), "{e}");
}

/// Serves `bytes` for every request on a loopback port; the URL to fetch.
async fn serve(bytes: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(bytes).await;
        }
    });
    format!("http://127.0.0.1:{port}/imp.wasm")
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_are_fetched_verified_and_merged_with_flags() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve(IMP).await;
    let calc = write(dir.path(), "calc.wasm", CALC);
    let config = dir.path().join("wasm.json");
    std::fs::write(
        &config,
        json!({ "imp": { "url": url, "sha256": sha256(IMP) }, "calc2": "calc.wasm" }).to_string(),
    )
    .unwrap();
    let args = [
        flag("calc", &calc),
        format!("--wasm-config={}", config.display()),
    ];
    let s = start(dir.path(), true, &args).await;
    let code = "[calc.add(1, 2), calc2.add(3, 4), new WebAssembly.Instance(__wasm_imp, { env: { f: (x) => x } }).exports.run(5)].join()";
    assert_eq!(ok(&s, code, None).await.0, "3,7,6");
    drop(s);

    std::fs::write(
        &config,
        json!({ "imp": { "url": url, "sha256": sha256(CALC) } }).to_string(),
    )
    .unwrap();
    let e = startup_error(dir.path(), &[format!("--wasm-config={}", config.display())]);
    assert!(e.contains("sha256 mismatch") && e.contains(&url), "{e}");
}
