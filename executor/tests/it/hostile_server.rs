//! Hostile programs against the real server over `POST /api/exec`: each run ends with a
//! precise status and a clear message, and afterwards the server is healthy — a normal
//! run succeeds, `/healthz` answers, and every worker is back. (`hostile.rs` covers the
//! engine's limits through the runner; this file covers escapes and floods end to end.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::Server;

const WORKERS: usize = 2;

async fn server(dir: &tempfile::TempDir) -> Server {
    server_with(dir, &[]).await
}

async fn server_with(dir: &tempfile::TempDir, extra: &[&str]) -> Server {
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

async fn run_body(s: &Server, body: Value) -> Value {
    let (status, record) = s.exec(body).await;
    assert_eq!(status, 200, "{record}");
    record
}

#[track_caller]
fn completed(r: &Value, result: &str) {
    assert_eq!(
        (r["status"].as_str(), r["result"].as_str()),
        (Some("completed"), Some(result)),
        "{r}"
    );
}

#[track_caller]
fn failed(r: &Value, error_starts: &str) {
    assert_eq!(r["status"], "failed", "{r}");
    let e = r["error"].as_str().unwrap_or_default();
    assert!(
        e.starts_with(error_starts),
        "error {e:?} should start with {error_starts:?}"
    );
}

#[track_caller]
fn timed_out(r: &Value) {
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
    let text = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
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
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
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
    completed(&run(&s, walk, 5).await, "clean:true");
    // Stack frames of callbacks the runtime invokes (timers, promise jobs, console
    // formatting) hand out no host receivers or functions through CallSites.
    let frames = "const sites = [];
        Error.prepareStackTrace = (_e, cs) => { sites.push(...cs); return 'x' };
        const grab = () => new Error('probe').stack;
        await new Promise(r => setTimeout(() => { grab(); r() }, 1));
        await Promise.resolve().then(grab);
        console.log({ toJSON() { grab(); return 1 } });
        const leaks = sites.flatMap(c => [c.getThis(), c.getFunction()])
            .filter(x => x !== undefined && x !== globalThis && !(typeof x === 'function' && /grab|=>/.test(String(x))));
        leaks.length ? leaks.map(String).join(';') : 'none'";
    completed(&run(&s, frames, 2).await, "none");
    // Module imports of the host's internals fail clearly.
    for spec in ["ext:core/ops", "node:fs", "file:///etc/passwd"] {
        let r = run(&s, &format!("await import('{spec}')"), 2).await;
        failed(&r, "TypeError: ");
        assert!(r["error"].as_str().unwrap().contains(spec), "{r}");
    }
    completed(
        &run(&s, "(await import('data:text/javascript,export default [typeof Deno, typeof __bootstrap].join()')).default", 2).await,
        "undefined,undefined",
    );
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_memory_and_atomics_end_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    // No SharedArrayBuffer global; shared memory exists only as shared wasm memory.
    completed(&run(&s, "typeof SharedArrayBuffer", 2).await, "undefined");
    failed(
        &run(&s, "Atomics.wait(new Int32Array(8), 0, 0)", 2).await,
        "TypeError: [object Int32Array] is not a shared typed array.",
    );
    // Inside functions, so no shared memory stays reachable from the heap to snapshot.
    let shared = "const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }); const a = new Int32Array(m.buffer);";
    // Atomics.wait blocks the thread: only the deadline (or the worker kill) ends it.
    timed_out(
        &run(
            &s,
            &format!("(() => {{ {shared} Atomics.wait(a, 0, 0); return 'woke' }})()"),
            1,
        )
        .await,
    );
    completed(
        &run(&s, &format!("(() => {{ {shared} Atomics.add(a, 0, 5); return Atomics.wait(a, 0, 5, 10) + ':' + a[0] }})()"), 2).await,
        "timed-out:5",
    );
    // A waitAsync nobody will notify leaves nothing for the event loop: a clear failure.
    failed(
        &run(&s, &format!("const p = (() => {{ {shared} return Atomics.waitAsync(a, 0, 0).value }})(); await p"), 2).await,
        "Error: Promise resolution is still pending but the event loop has already resolved",
    );
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn catastrophic_regex_and_microtask_floods_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    for code in [
        "/^(a+)+$/.test('a'.repeat(40) + 'b')",
        "/(x+x+)+y/.test('x'.repeat(5000))",
        "for (;;) await null",
        "const f = () => { Promise.resolve().then(f) }; f(); 'never'",
    ] {
        timed_out(&run(&s, code, 1).await);
    }
    // A long but finite chain completes; a chain that outgrows the heap fails clearly.
    completed(
        &run(&s, "let p = Promise.resolve(0); for (let i = 0; i < 100000; i++) p = p.then(x => x + 1); await p", 5).await,
        "100000",
    );
    let r = run_body(
        &s,
        json!({ "code": "let p = Promise.resolve(); for (;;) p = p.then(() => {})", "execution_timeout_secs": 5, "heap_memory_max_mb": 16 }),
    )
    .await;
    failed(&r, "RangeError: heap limit exceeded");
    // Jobs that resolve each other's promises grow a chain until the heap gives out.
    let r = run(
        &s,
        "const f = () => Promise.resolve().then(f); f(); await new Promise(() => {})",
        5,
    )
    .await;
    failed(&r, "RangeError: heap limit exceeded");
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_results_and_console_floods() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with(&dir, &["--max-output-bytes", "1048576"]).await;
    // 8 MB of result text travels back whole.
    let r = run(&s, "'x'.repeat(8 << 20)", 5).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(r["result"].as_str().map(str::len), Some(8 << 20));
    // Strings built by repeat/join are ropes until flattened: 64 MB comes back whole even
    // with a 32 MB heap; 256 MB hits the limit (the run's or the worker's watchdog).
    let r = run(&s, "const parts = []; for (let i = 0; i < 64; i++) parts.push('y'.repeat(1 << 20)); parts.join('')", 10).await;
    assert_eq!(r["status"], "completed");
    assert_eq!(r["result"].as_str().map(str::len), Some(64 << 20));
    failed(
        &run(&s, "'x'.repeat(2 ** 28)", 10).await,
        "RangeError: heap limit exceeded",
    );
    // A 128 MB flat string kept in the heap: the result survives, the snapshot cannot be
    // made (V8 aborts the worker), the run says so and a fresh worker takes over.
    let r = run(&s, "const big = 'x'.repeat(2 ** 27); big.charCodeAt(7)", 5).await;
    completed(&r, "120");
    assert!(r["heap"].is_null(), "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("the heap could not be saved"),
        "{r}"
    );
    // Thousands of lines per millisecond: output is capped, the run completes.
    let started = Instant::now();
    let r = run(
        &s,
        "for (let i = 0; i < 200000; i++) console.log('line', i); 'flooded'",
        10,
    )
    .await;
    completed(&r, "flooded");
    let out = r["output"].as_str().unwrap();
    assert!(out.len() <= (1 << 20) + 200, "{} bytes kept", out.len());
    assert!(out.contains("truncated"), "no truncation notice");
    assert!(started.elapsed() < Duration::from_secs(10));
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "bug: queueMicrotask always throws `TypeError: enqueue is not a function` (deno_core's wrapper finds no native queueMicrotask in isolates restored from the startup snapshot)"]
async fn queue_microtask_works_and_its_flood_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    completed(
        &run(&s, "let n = 0; queueMicrotask(() => n++); await null; n", 2).await,
        "1",
    );
    timed_out(&run(&s, "const f = () => queueMicrotask(f); f(); 'queued'", 1).await);
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "bug: top-level `await (expr)` is compiled as a call of a function named `await` (ReferenceError: await is not defined)"]
async fn top_level_await_of_a_parenthesized_expression() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    completed(&run(&s, "await (Promise.resolve(1))", 2).await, "1");
    completed(
        &run(&s, "const x = await (async () => 2)(); x", 2).await,
        "2",
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "bug: `new Error().stack` is undefined in every run (so are console.trace and logged errors' stacks)"]
async fn errors_have_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    let r = run(
        &s,
        "function inner() { return new Error('probe').stack } inner()",
        2,
    )
    .await;
    assert_eq!(r["status"], "completed", "{r}");
    let stack = r["result"].as_str().unwrap();
    assert!(
        stack.starts_with("Error: probe") && stack.contains("inner"),
        "{r}"
    );
}
