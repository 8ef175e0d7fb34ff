//! Hostile code: every run ends with a clear status and the server serves the next
//! run at once.

use mcp_v8::pool::Status;
use mcp_v8::runner::RunRequest;

use crate::harness::{self, Harness};

async fn ends(h: &Harness, code: &str, timeout_s: u32) -> (Status, String) {
    let req = RunRequest {
        code: code.into(),
        execution_timeout_secs: Some(timeout_s),
        ..Default::default()
    };
    let f = h.runner.run(req).await.expect("accepted");
    (f.status, f.error.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loops_time_out() {
    let h = harness::stateful().await;
    let (s, e) = ends(&h, "while (true) {}", 1).await;
    assert_eq!(s, Status::TimedOut, "{e}");
    assert!(e.contains("timed out"), "{e}");
    let (s, _) = ends(&h, "await new Promise(() => setInterval(() => {}, 1))", 1).await;
    assert_eq!(s, Status::TimedOut);
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_bombs_hit_the_heap_limit() {
    let h = harness::stateless().await;
    for bomb in [
        "const a = []; while (true) a.push(new Array(100000).fill(1.5))",
        "let s = 'xy'; const keep = []; while (true) { s = s + s.slice(0, 1000) + Math.random(); keep.push(s) }",
        "new ArrayBuffer(2 ** 31)",
        "const bufs = []; while (true) bufs.push(new Uint8Array(1 << 20))",
        "try { new ArrayBuffer(2 ** 30) } catch { 'caught' }",
    ] {
        let (s, e) = ends(&h, bomb, 10).await;
        assert_eq!(s, Status::Failed, "{bomb}: {e}");
        assert!(e.contains("heap limit"), "{bomb}: {e}");
        h.still_serves().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wasm_memory_bombs_end_clearly() {
    let h = harness::stateless().await;
    let (s, e) = ends(
        &h,
        "const m = new WebAssembly.Memory({initial: 1}); while (true) m.grow(64)",
        10,
    )
    .await;
    assert_eq!(s, Status::Failed, "{e}");
    assert!(e.contains("RangeError"), "{e}");
    let bomb = "const ms = []; for (;;) { const m = new WebAssembly.Memory({initial: 1024}); new Uint8Array(m.buffer).fill(1); ms.push(m) }";
    let (s, e) = ends(&h, bomb, 10).await;
    assert_eq!(s, Status::Failed, "{e}");
    assert!(e.contains("heap limit"), "{e}");
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_recursion_is_a_range_error() {
    let h = harness::stateful().await;
    let (s, e) = ends(&h, "function r(n) { return r(n + 1) + 1 } r(0)", 10).await;
    assert_eq!(
        (s, e.as_str()),
        (
            Status::Failed,
            "RangeError: Maximum call stack size exceeded"
        )
    );
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_megabytes_of_console_is_capped() {
    let h = harness::stateless().await;
    let req = RunRequest {
        code: "const line = 'x'.repeat(100); for (let i = 0; i < 1000000; i++) console.log(line); 'done'".into(),
        execution_timeout_secs: Some(10),
        ..Default::default()
    };
    let mut handle = h.runner.submit(req).await.unwrap();
    let mut bytes = 0;
    let mut last = String::new();
    while let Some(line) = handle.console.recv().await {
        bytes += line.text.len() + 1;
        last = line.text;
    }
    let f = h.runner.finish(handle.outcome.await.unwrap()).await;
    assert_eq!(
        (f.status, f.result.as_deref()),
        (Status::Completed, Some("done")),
        "{f:?}"
    );
    assert!(bytes <= (1 << 20) + 200, "kept {bytes} bytes");
    assert!(last.contains("truncated"), "{last}");
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn atomics_wait_on_shared_memory_times_out() {
    let h = harness::stateless().await;
    let (s, e) = ends(
        &h,
        "const sab = new SharedArrayBuffer(16); Atomics.wait(new Int32Array(sab), 0, 0); 'woke'",
        1,
    )
    .await;
    assert_eq!(s, Status::TimedOut, "{e}");
    h.still_serves().await;
}
