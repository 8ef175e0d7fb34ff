//! REPL-style heaps: what a run declares is there on the heap it returns.

use mcp_v8::pool::Status;

use crate::harness;

#[tokio::test(flavor = "multi_thread")]
async fn declarations_survive_like_a_repl() {
    let h = harness::stateful().await;
    let (_, h1) = h.ok("var x = 1; let y = 10; const z = 100; function f(a) { return a * 2 } class C { v() { return 'c' } }").await;
    let h1 = h1.expect("a stateful run returns a heap");
    assert_eq!(h.ok_on(&h1, "x + 1").await.0, "2");
    assert_eq!(h.ok_on(&h1, "y + z").await.0, "110");
    assert_eq!(h.ok_on(&h1, "f(21) + new C().v()").await.0, "42c");
    // Top-level await takes the rewrite path; its declarations persist the same way.
    let (_, h2) = h
        .ok_on(&h1, "const w = await Promise.resolve(5); let u = w + y;")
        .await;
    assert_eq!(h.ok_on(&h2.unwrap(), "[w, u, x].join()").await.0, "5,15,1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_chains_over_runs_and_each_heap_is_immutable() {
    let h = harness::stateful().await;
    let (_, mut heap) = h.ok("var counter = 0; var log = []").await;
    let first = heap.clone().unwrap();
    for i in 1..=5 {
        let (r, next) = h
            .ok_on(
                heap.as_deref().unwrap(),
                &format!("counter += 1; log.push({i}); counter"),
            )
            .await;
        assert_eq!(r, i.to_string());
        heap = next;
    }
    assert_eq!(
        h.ok_on(heap.as_deref().unwrap(), "log.join()").await.0,
        "1,2,3,4,5"
    );
    // Content addressing: the first heap still holds the state it was made with.
    assert_eq!(h.ok_on(&first, "counter").await.0, "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn same_state_gives_the_same_heap_id_and_random_is_reseeded() {
    let h = harness::stateful().await;
    let (_, base) = h.ok("var seed = 1").await;
    let base = base.unwrap();
    let (a, _) = h.ok_on(&base, "Math.random()").await;
    let (b, _) = h.ok_on(&base, "Math.random()").await;
    assert_ne!(
        a, b,
        "two runs from one snapshot must not replay Math.random"
    );
    let (c, _) = h
        .ok_on(&base, "crypto.getRandomValues(new Uint32Array(4)).join()")
        .await;
    let (d, _) = h
        .ok_on(&base, "crypto.getRandomValues(new Uint32Array(4)).join()")
        .await;
    assert_ne!(c, d);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_runs_keep_the_input_heap_unchanged() {
    let h = harness::stateful().await;
    let (_, base) = h.ok("var n = 1").await;
    let base = base.unwrap();
    let f = h.run_on(&base, "n = 2; throw new Error('boom')").await;
    assert_eq!((f.status, f.heap.as_deref()), (Status::Failed, None));
    assert_eq!(h.ok_on(&base, "n").await.0, "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn wasm_instance_at_top_level_completes_without_a_heap() {
    let h = harness::stateful().await;
    let code = format!(
        "globalThis.inst = new WebAssembly.Instance(new WebAssembly.Module({})); inst.exports.add(1, 2)",
        crate::globals::ADD_WASM
    );
    let f = h.run(&code).await;
    assert_eq!(f.status, Status::Completed, "{f:?}");
    assert_eq!(
        f.result.as_deref(),
        Some("3"),
        "the result survives the failed snapshot"
    );
    assert!(f.heap.is_none());
    let e = f.error.unwrap();
    assert!(e.contains("WebAssembly") && e.contains("stateless"), "{e}");
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stateless_runs_share_nothing() {
    let h = harness::stateless().await;
    let f = h.run("var leaked = 1; leaked").await;
    assert_eq!((f.status, f.heap), (Status::Completed, None));
    assert_eq!(h.ok("typeof leaked").await.0, "undefined");
}
