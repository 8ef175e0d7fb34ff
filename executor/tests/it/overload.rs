//! Overload: 8x the configured concurrency in flight (2 workers, 4 queue places, 16
//! clients) with CPU- and memory-heavy runs. The server answers every request — 200 for
//! what it accepted, 429 "busy" for the rest, never a 5xx or a dropped connection —
//! its memory (server plus workers) stays bounded, and afterwards it recovers at once.
//! `make overload` runs the longer variant (e2e/load/overload.py).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::hostile_server::metric;
use crate::server::Server;

const WORKERS: u64 = 2;
const HEAP_MB: u64 = 32;

/// A second of CPU at most, or tens of MB of heap; both complete within their limits.
const CPU: &str = "let x = 0; for (let i = 0; i < 2e7; i++) x = (x + i * 7) % 1000003; x > -1";
const MEM: &str =
    "const a = []; for (let i = 0; i < 24; i++) a.push(new Array(1e5).fill(i + 0.5)); a.length";

/// Resident memory of `pid` and its children (the workers), in bytes.
pub fn tree_rss(pid: u32) -> u64 {
    let mut total = rss(pid);
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if parent(child) == Some(pid) {
                total += rss(child);
            }
        }
    }
    total
}

fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after its closing parenthesis are fixed.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
    timed_out: AtomicU64,
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_times_the_concurrency_gets_busy_answers_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(
        Server::start_in(
            dir.path(),
            &[
                "--stateless",
                "--max-concurrent-executions",
                "2",
                "--max-queued-executions",
                "4",
                "--heap-memory-max",
                "32",
            ],
        )
        .await,
    );
    // Both workers up (past their warm-up) before the baseline is taken.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&s, "mcpv8_workers").await != WORKERS as f64 {
        assert!(Instant::now() < deadline, "workers never came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let baseline = tree_rss(s.pid());
    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let (s, counts, stop, client) = (s.clone(), counts.clone(), stop.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let code = if i % 2 == 0 { CPU } else { MEM };
                let r = client
                    .post(format!("{}/api/exec", s.base))
                    .json(&json!({ "code": code, "execution_timeout_secs": 20 }))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let Ok(r) = r else {
                    counts.other.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                match status {
                    200 if body["status"] == "completed" => {
                        counts.ok.fetch_add(1, Ordering::Relaxed)
                    }
                    200 if body["status"] == "timed_out" => {
                        counts.timed_out.fetch_add(1, Ordering::Relaxed)
                    }
                    429 if body["error"].as_str().is_some_and(|e| e.contains("busy")) => {
                        // A polite client backs off a little before retrying.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        counts.busy.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => {
                        eprintln!("unexpected answer {status}: {body}");
                        counts.other.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    let mut peak = 0;
    let burst = Instant::now();
    while burst.elapsed() < Duration::from_secs(8) {
        peak = peak.max(tree_rss(s.pid()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (ok, busy, other, timed_out) = (
        load(&counts.ok),
        load(&counts.busy),
        load(&counts.other),
        load(&counts.timed_out),
    );
    eprintln!(
        "overload: {ok} completed, {busy} busy, {timed_out} timed out, {other} other; rss {} MB -> peak {} MB",
        baseline >> 20,
        peak >> 20
    );
    assert_eq!(other, 0, "every request is answered with 200 or 429");
    assert_eq!(timed_out, 0, "accepted runs finish within their budget");
    assert!(ok >= 4 && busy >= 10, "{ok} completed, {busy} busy");
    // Each worker may grow by its run's allowance (4x the heap + 128 MB, enforced by
    // the worker's watchdog) over the baseline; the server itself holds a bounded queue.
    let bound = baseline + WORKERS * ((HEAP_MB * 4 + 128) << 20) + (128 << 20);
    assert!(
        peak <= bound,
        "peak {} MB over the bound {} MB",
        peak >> 20,
        bound >> 20
    );

    // Recovery: the queue drains and a normal run answers at once.
    let t = Instant::now();
    let (st, r) = s.exec(json!({ "code": "1 + 1" })).await;
    assert_eq!((st, r["result"].as_str()), (200, Some("2")), "{r}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "first run after the burst took {:?}",
        t.elapsed()
    );
    assert_eq!(metric(&s, "mcpv8_queued_runs").await, 0.0);
    assert_eq!(metric(&s, "mcpv8_running_runs").await, 0.0);
    assert_eq!(metric(&s, "mcpv8_workers").await, WORKERS as f64);
}
