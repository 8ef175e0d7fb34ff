//! Hostile programs against the real server, part two: shared memory and `Atomics`,
//! catastrophic regexes, promise and microtask floods, huge results and console floods.
//! Each run ends with a precise status and the server stays healthy afterwards.

use serde_json::json;

use crate::hostile_server::{
    completed, failed, healthy, run, run_body, server, server_with, timed_out,
};

#[tokio::test(flavor = "multi_thread")]
async fn shared_memory_and_atomics_end_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let s = server_with(&dir, &["--stateless"]).await;
    // Blocking on a SharedArrayBuffer: only the deadline (or the worker kill) ends it.
    timed_out(
        &run(
            &s,
            "const a = new Int32Array(new SharedArrayBuffer(8)); Atomics.wait(a, 0, 0); 'woke'",
            1,
        )
        .await,
    );
    failed(
        &run(&s, "Atomics.wait(new Int32Array(8), 0, 0)", 2).await,
        "TypeError: [object Int32Array] is not a shared typed array.",
    );
    // Shared wasm memory (inside functions, so the pattern also works in sessions).
    let shared = "const m = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }); const a = new Int32Array(m.buffer);";
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
async fn stateful_runs_have_no_shared_array_buffer() {
    // V8 leaves SharedArrayBuffer out of isolates it may snapshot (a snapshot cannot
    // hold shared memory); stateful runs restore into those, as documented.
    let dir = tempfile::tempdir().unwrap();
    let s = server(&dir).await;
    completed(&run(&s, "typeof SharedArrayBuffer", 2).await, "undefined");
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
    healthy(&s).await;
}

#[tokio::test(flavor = "multi_thread")]
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
