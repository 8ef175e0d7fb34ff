//! Hostile programs against the real server over `POST /api/exec`: each run ends with a
//! precise status and a clear message, and afterwards the server is healthy — a normal
//! run succeeds, `/healthz` answers, and every worker is back. (`hostile.rs` covers the
//! engine's limits through the runner.) This file: escapes from the sandbox, and the
//! helpers; `hostile_floods.rs`: blocking, floods and huge values.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::Server;

const WORKERS: usize = 2;

pub async fn server(dir: &tempfile::TempDir) -> Server {
    server_with(dir, &[]).await
}

pub async fn server_with(dir: &tempfile::TempDir, extra: &[&str]) -> Server {
    let mut args = vec![
        "--max-concurrent-executions",
        "2",
        "--heap-memory-max",
        "32",
    ];
    args.extend_from_slice(extra);
    Server::start_in(dir.path(), &args).await
}

/// Runs `code` with a `timeout_s` budget; the record (with `output`).
pub async fn run(s: &Server, code: &str, timeout_s: u32) -> Value {
    run_body(
        s,
        json!({ "code": code, "execution_timeout_secs": timeout_s }),
    )
    .await
}

pub async fn run_body(s: &Server, body: Value) -> Value {
    let (status, record) = s.exec(body).await;
    assert_eq!(status, 200, "{record}");
    record
}

#[track_caller]
pub fn completed(r: &Value, result: &str) {
    assert_eq!(
        (r["status"].as_str(), r["result"].as_str()),
        (Some("completed"), Some(result)),
        "{r}"
    );
}

#[track_caller]
pub fn failed(r: &Value, error_starts: &str) {
    assert_eq!(r["status"], "failed", "{r}");
    let e = r["error"].as_str().unwrap_or_default();
    assert!(
        e.starts_with(error_starts),
        "error {e:?} should start with {error_starts:?}"
    );
}

#[track_caller]
pub fn timed_out(r: &Value) {
    assert_eq!(r["status"], "timed_out", "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{r}"
    );
}

/// The server still serves: a normal run, `/healthz`, and all workers live again.
pub async fn healthy(s: &Server) {
    completed(&run(s, "6 * 7", 5).await, "42");
    assert_eq!(s.get("/healthz").await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let live = metric(s, "mcpv8_workers").await;
        if live == WORKERS as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {live} of {WORKERS} workers came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of an unlabelled series in `/metrics`.
pub async fn metric(s: &Server, name: &str) -> f64 {
    crate::metrics::scrape(s)
        .await
        .into_iter()
        .find_map(|(n, labels, v)| (n == name && labels.is_empty()).then_some(v))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test(flavor = "multi_thread")]
async fn polluted_builtins_stay_in_their_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    // The engine formats results and console lines with the builtins it captured at
    // start-up, so replacing the run's own builtins changes nothing outside it.
    let pollute = "JSON.stringify = () => 'pwned'; Object.prototype.toString = () => 'pwned';
        Array.prototype.join = () => 'pwned'; String.prototype.toString = () => 'pwned';
        Array.isArray = () => false; Object.getPrototypeOf = () => null; Map = null; String = null;
        console.log({a: 1}, [1, 2]);
        ({ ok: [1, 2] })";
    let r = run(&s, pollute, 2).await;
    completed(&r, "{\"ok\":[1,2]}");
    assert_eq!(r["output"], "{\"a\":1} [1,2]\n", "{r}");
    // A later stateless run starts from a clean isolate.
    completed(
        &run(
            &s,
            "JSON.stringify({a: [1]}) + Object.prototype.toString.call([])",
            2,
        )
        .await,
        "{\"a\":[1]}[object Array]",
    );
    // A thenable Object.prototype, even a throwing one, does not trap the result.
    for then in [
        "Object.prototype.then = function (ok) { ok('hijacked') }",
        "Object.defineProperty(Object.prototype, 'then', { get() { throw new Error('boom') } })",
    ] {
        completed(
            &run(&s, &format!("{then}; ({{ x: 1 }})"), 2).await,
            "{\"x\":1}",
        );
    }
    // Frozen intrinsics and a replaced Promise or setTimeout are the run's own business.
    completed(
        &run(&s, "Object.freeze(Object.prototype); Object.freeze(Function.prototype); setTimeout = null; Promise.prototype.then = () => 5; [1]", 2).await,
        "[1]",
    );

    // In a session the pollution persists in the heap, and the engine still works on it.
    let (st, first) = s
        .exec(json!({ "code": pollute, "session": "polluted", "execution_timeout_secs": 2 }))
        .await;
    assert_eq!(st, 200, "{first}");
    completed(&first, "{\"ok\":[1,2]}");
    let next = run_body(
        &s,
        json!({ "code": "[typeof Map, JSON.stringify({}), 1 + 1]", "session": "polluted", "execution_timeout_secs": 2 }),
    )
    .await;
    completed(&next, "[\"object\",\"pwned\",2]");
    assert!(next["heap"].is_string(), "{next}");
    // A trap on the reserved `Deno` name costs that run its heap, never the host objects.
    let trap = "Object.defineProperty(globalThis, 'Deno', { set(v) { globalThis.stolen = v }, get() { return 'mine' }, configurable: false }); 1";
    let r = run_body(
        &s,
        json!({ "code": trap, "session": "trap", "execution_timeout_secs": 2 }),
    )
    .await;
    completed(&r, "1");
    assert!(r["heap"].is_null(), "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("globalThis.Deno unchangeable"),
        "{r}"
    );
    let trap = "Object.defineProperty(globalThis, 'Deno', { set(v) { globalThis.stolen = v }, configurable: true }); 1";
    completed(
        &run_body(
            &s,
            json!({ "code": trap, "session": "trap2", "execution_timeout_secs": 2 }),
        )
        .await,
        "1",
    );
    let r = run_body(&s, json!({ "code": "[typeof stolen, typeof Deno]", "session": "trap2", "execution_timeout_secs": 2 })).await;
    completed(&r, "[\"undefined\",\"undefined\"]");
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn function_and_eval_do_not_reach_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let probes = "const g = [Function('return this')(), (0, eval)('this'),
            [].constructor.constructor('return globalThis')(),
            Object.getPrototypeOf(async function () {}).constructor('return this'),
            new (Object.getPrototypeOf(function* () {}).constructor)('yield this')().next().value];
        const names = ['Deno', '__bootstrap', 'require', 'process', 'Bun', 'core', 'ops'];
        g.map(o => o && names.filter(n => typeof o[n] !== 'undefined').join('+')).join('|')";
    let r = run(&s, probes, 2).await;
    assert_eq!(r["status"], "completed", "{r}");
    assert!(
        r["result"]
            .as_str()
            .unwrap()
            .split('|')
            .all(|p| p.is_empty() || p == "null"),
        "{r}"
    );
    failed(
        &run(&s, "eval('Deno.core.ops')", 2).await,
        "ReferenceError: Deno is not defined",
    );
    failed(
        &run(&s, "Function('return process.env')()", 2).await,
        "ReferenceError: process is not defined",
    );
    failed(
        &run(&s, "new Function('return __bootstrap')()", 2).await,
        "ReferenceError",
    );
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_op_is_reachable_from_the_object_graph_or_stack_frames() {
    // Stateless and stateful isolates come from different startup snapshots.
    let dir = tempfile::tempdir().unwrap();
    let stateless = server_with(&dir, &["--stateless"]).await;
    let dir2 = tempfile::tempdir().unwrap();
    let stateful = server(&dir2).await;
    graph_and_frames_are_clean(&stateless, true).await;
    graph_and_frames_are_clean(&stateful, false).await;
}

async fn graph_and_frames_are_clean(s: &Server, with_stacks: bool) {
    // Walks everything reachable from globalThis (own properties, symbols, prototypes,
    // closures' statics) looking for deno_core ops or its `Deno.core` object.
    let walk = "const seen = new Set(); const found = []; const todo = [[globalThis, 'globalThis']];
        while (todo.length && seen.size < 50000) {
          const [o, path] = todo.pop();
          if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
          seen.add(o);
          if (typeof o === 'function' && /^op_/.test(o.name)) found.push(path);
          for (const k of Reflect.ownKeys(o)) {
            const d = Object.getOwnPropertyDescriptor(o, k);
            if (/^(ops|core|Deno|__bootstrap)$/.test(String(k))) found.push(path + '.' + String(k));
            if (d && 'value' in d) todo.push([d.value, path + '.' + String(k)]);
          }
          todo.push([Object.getPrototypeOf(o), path + '.__proto__']);
        }
        found.length ? found.slice(0, 5).join(',') : 'clean:' + (seen.size > 500)";
    completed(&run(s, walk, 5).await, "clean:true");
    // Stack frames of callbacks the runtime invokes (timers, promise jobs, console
    // formatting) hand out no host receivers or functions through CallSites.
    let frames = "const sites = [];
        Error.prepareStackTrace = (_e, cs) => { sites.push(...cs); return 'x' };
        const grab = () => new Error('probe').stack;
        await new Promise(r => setTimeout(() => { grab(); r() }, 1));
        await Promise.resolve().then(grab);
        const mine = { toJSON() { grab(); return 1 } };
        console.log(mine);
        const leaks = sites.flatMap(c => [c.getThis(), c.getFunction()])
            .filter(x => x !== undefined && x !== globalThis && x !== mine && !(typeof x === 'function' && /grab|=>/.test(String(x))));
        leaks.length ? leaks.map(String).join(';') : 'none:' + sites.length";
    let r = run(s, frames, 2).await;
    assert_eq!(r["status"], "completed", "{r}");
    let sites: usize = r["result"]
        .as_str()
        .and_then(|t| t.strip_prefix("none:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("host objects leaked through CallSites: {r}"));
    // Stateful isolates have no stacks at all (see hostile_floods::errors_have_stacks).
    assert!(sites > 0 || !with_stacks, "no CallSite was inspected: {r}");
    // Module imports of the host's internals fail clearly.
    for spec in ["ext:core/ops", "node:fs", "file:///etc/passwd"] {
        let r = run(s, &format!("await import('{spec}')"), 2).await;
        failed(&r, "TypeError: ");
        assert!(r["error"].as_str().unwrap().contains(spec), "{r}");
    }
    completed(
        &run(s, "(await import('data:text/javascript,export default [typeof Deno, typeof __bootstrap].join()')).default", 2).await,
        "undefined,undefined",
    );
    healthy(s).await;
}
