//! Stateful runs that end without a heap must give their isolate's memory back:
//! deno_core leaks a snapshotting isolate dropped without a snapshot, so the engine
//! disposes of it (engine::dispose). Measured as the worker's resident memory.

use serde_json::json;

use crate::server::Server;

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_stateful_runs_do_not_leak_their_isolates() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--max-concurrent-executions", "1"]).await;
    let (_, r) = s.exec(json!({ "code": "1" })).await;
    assert_eq!(r["status"], "completed");
    let workers = children(s.pid());
    assert_eq!(workers.len(), 1, "{workers:?}");
    let before = rss_kb(workers[0]);
    for _ in 0..40 {
        let (_, r) = s
            .exec(json!({ "code": "const a = new Array(1e5).fill(1); throw new Error('no')" }))
            .await;
        assert_eq!(r["status"], "failed");
    }
    let (_, r) = s
        .exec(json!({ "code": "await new Promise(r => setTimeout(r, 1e7))", "execution_timeout_secs": 1 }))
        .await;
    assert_eq!(r["status"], "timed_out");
    // Same worker (a stop while waiting on a timer ends the run, not the process).
    assert_eq!(children(s.pid()), workers);
    let grown_mb = rss_kb(workers[0]).saturating_sub(before) / 1024;
    // Leaked, each of those isolates kept ~2.4 MB (≈ 100 MB in all).
    assert!(
        grown_mb < 40,
        "the worker grew {grown_mb} MB over 41 failed runs"
    );
}
