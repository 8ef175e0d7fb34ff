//! The pool: parallelism, the bounded queue, cancellation and timeouts at every stage.

use std::time::Duration;

use mcp_v8::pool::PoolError;
use mcp_v8::pool::Status;
use mcp_v8::runner::{RunError, RunRequest};

use crate::harness::{self, Options};

fn spin(secs: u32) -> RunRequest {
    RunRequest {
        code: "while (true) {}".into(),
        execution_timeout_secs: Some(secs),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stateful_sessions_run_in_parallel() {
    let h = harness::start(Options {
        workers: 2,
        ..Default::default()
    })
    .await;
    let (_, a) = h.ok("var name = 'a'").await;
    let (_, b) = h.ok("var name = 'b'").await;
    let busy =
        "const t0 = Date.now(); while (Date.now() - t0 < 500) {}; [name, t0, Date.now()].join()";
    let (ra, rb) = tokio::join!(
        h.ok_on(a.as_deref().unwrap(), busy),
        h.ok_on(b.as_deref().unwrap(), busy)
    );
    let parse = |r: &str| {
        let p: Vec<&str> = r.split(',').collect();
        (
            p[0].to_owned(),
            p[1].parse::<u64>().unwrap(),
            p[2].parse::<u64>().unwrap(),
        )
    };
    let ((na, sa, ea), (nb, sb, eb)) = (parse(&ra.0), parse(&rb.0));
    assert_eq!((na.as_str(), nb.as_str()), ("a", "b"));
    assert!(
        sa < eb && sb < ea,
        "the two sessions' runs overlapped in time: {ra:?} {rb:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_is_server_busy() {
    let h = harness::start(Options {
        workers: 1,
        queue: 1,
        stateful: false,
        ..Default::default()
    })
    .await;
    // The worker is up (a run went through), so the next run leaves the queue at once.
    h.ok("0").await;
    let running = h.runner.submit(spin(3)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = h.runner.submit(spin(3)).await.unwrap();
    let e = h.runner.submit(spin(3)).await.err().unwrap();
    assert!(matches!(e, RunError::Pool(PoolError::Busy { .. })), "{e}");
    assert!(e.to_string().starts_with("server busy"), "{e}");
    running.cancel();
    queued.cancel();
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_ends_running_and_queued_runs() {
    let h = harness::start(Options {
        workers: 1,
        stateful: false,
        ..Default::default()
    })
    .await;
    h.ok("0").await;
    let running = h.runner.submit(spin(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let queued = h.runner.submit(spin(10)).await.unwrap();
    queued.cancel();
    let q = tokio::time::timeout(Duration::from_secs(1), queued.wait())
        .await
        .expect("a queued cancel ends at once");
    assert_eq!(q.status, Status::Cancelled);
    running.cancel();
    let r = tokio::time::timeout(Duration::from_secs(5), running.wait())
        .await
        .expect("cancel stops a busy loop");
    assert_eq!(r.status, Status::Cancelled);
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_run_times_out_where_it_waits() {
    let h = harness::start(Options {
        workers: 1,
        stateful: false,
        ..Default::default()
    })
    .await;
    let running = h.runner.submit(spin(4)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = h
        .runner
        .submit(RunRequest {
            execution_timeout_secs: Some(1),
            ..spin(1)
        })
        .await
        .unwrap();
    let q = tokio::time::timeout(Duration::from_secs(3), queued.wait())
        .await
        .expect("ends at its own deadline");
    assert_eq!(q.status, Status::TimedOut);
    assert!(q.error.unwrap().contains("waiting for a worker"));
    assert_eq!(running.wait().await.status, Status::TimedOut);
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_memory_stays_high_is_replaced_between_runs() {
    let h = harness::start(Options {
        workers: 1,
        recycle_mb: 16,
        ..Default::default()
    })
    .await;
    let before = h.runner.pool().worker_pids();
    // Touch ~64 MB of WebAssembly memory (outside the V8 heap) and keep the result.
    let (r, _) = h.ok("(() => { const m = new WebAssembly.Memory({initial: 1000}); new Uint8Array(m.buffer).fill(7); return 'filled' })()").await;
    assert_eq!(r, "filled");
    // The next run is served, by a fresh worker process.
    h.still_serves().await;
    let after = h.runner.pool().worker_pids();
    assert_ne!(before, after, "the worker was recycled");
    assert!(after.iter().all(|p| *p != 0));
}
