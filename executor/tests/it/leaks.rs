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
    assert_eq!(
        children(s.pid()),
        workers,
        "the same worker served them all"
    );
    let grown_mb = rss_kb(workers[0]).saturating_sub(before) / 1024;
    // Leaked, each of those isolates kept ~2.4 MB (≈ 100 MB in all).
    assert!(
        grown_mb < 40,
        "the worker grew {grown_mb} MB over 40 failed runs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_stopped_from_outside_retire_their_worker_and_the_next_runs_complete() {
    // Serialising a heap stopped mid-flight aborted V8 ("Unknown external reference")
    // and took the next run down with the worker; such a worker now hands over.
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--max-concurrent-executions", "1"]).await;
    let slow = "for (let i = 0; i < 50; i++) { console.log('line ' + i); await new Promise(r => setTimeout(r, 100)); } 'done'";
    let next = "for (const w of ['one', 'two']) { console.log(w); await new Promise(r => setTimeout(r, 50)); } 6 * 7";
    for _ in 0..3 {
        let id = s.start_async(slow).await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        s.post(&format!("/api/executions/{id}/cancel"), json!({}))
            .await;
        assert_eq!(s.wait_done(&id).await["status"], "cancelled");
        for _ in 0..2 {
            let (_, r) = s.exec(json!({ "code": next })).await;
            assert_eq!(
                (r["status"].as_str(), r["result"].as_str()),
                (Some("completed"), Some("42")),
                "{r}"
            );
        }
    }
    let (_, r) = s
        .exec(json!({ "code": "await new Promise(r => setTimeout(r, 1e7))", "execution_timeout_secs": 1 }))
        .await;
    assert_eq!(r["status"], "timed_out");
    let (_, r) = s.exec(json!({ "code": "1 + 1" })).await;
    assert_eq!(r["result"], "2", "{r}");
}
