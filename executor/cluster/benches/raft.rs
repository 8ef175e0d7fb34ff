//! Benchmark (not a test): committed session-log appends per second and their latency on
//! a 3-node `mcp-v8-meta` cluster on loopback, with default raft timings. Every append
//! is acknowledged only after a quorum has it on disk (fsync) and it is applied.
//! Run with `cargo bench -p mcp-v8-cluster` (or `make bench-cluster`).

use std::time::{Duration, Instant};

use serde_json::json;

#[allow(dead_code)] // the bench uses part of the test harness
#[path = "../tests/it/harness.rs"]
mod harness;

const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);

struct Figures {
    ops: usize,
    errors: usize,
    per_sec: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn run(c: &harness::Cluster, targets: &[u32], clients: usize) -> Figures {
    let urls: Vec<String> = targets
        .iter()
        .map(|n| c.node(*n).url("/meta/sessions/bench/entries"))
        .collect();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (http, url) = (c.http.clone(), urls[i % urls.len()].clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let mut k = 0u64;
                while start.elapsed() < WARMUP + MEASURE {
                    k += 1;
                    let body = json!({"input_heap": null, "output_heap": format!("{:064x}", k), "code": format!("c{i}-{k}")});
                    let t = Instant::now();
                    let ok = matches!(http.post(&url).json(&body).send().await, Ok(r) if r.status().is_success());
                    if start.elapsed() > WARMUP {
                        if ok { lat.push(t.elapsed()) } else { errors += 1 }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    Figures {
        ops: lat.len(),
        errors,
        per_sec: lat.len() as f64 / MEASURE.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        max: *lat.last().unwrap(),
    }
}

#[allow(clippy::print_stdout)] // the figures are the bench's output
#[tokio::main]
async fn main() {
    let mut c = harness::Cluster::new(40, 3);
    let peers: Vec<String> = c
        .nodes
        .iter()
        .map(|n| format!("node{}@{}", n.n, n.cluster_addr()))
        .collect();
    let secret = c.secret_file.clone();
    for n in &mut c.nodes {
        // Default raft timings (heartbeat 100 ms, election 300-500 ms), not the tests' short ones.
        n.timings.clear();
        n.extra = vec!["--peers".into(), peers.join(",")];
        n.start(&secret);
    }
    let leader = c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(20)).await as u32;
    let followers: Vec<u32> = (1..=3).filter(|n| *n != leader).collect();
    println!(
        "3-node mcp-v8-meta cluster on loopback, {}s per row after {}s warm-up",
        MEASURE.as_secs(),
        WARMUP.as_secs()
    );
    println!("| clients | sent to | appends/s | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (clients, targets, label) in [
        (16, vec![leader], "leader"),
        (64, vec![leader], "leader"),
        (64, followers.clone(), "followers"),
    ] {
        let f = run(&c, &targets, clients).await;
        println!(
            "| {clients} | {label} | {:.0} | {:.1} | {:.1} | {:.1} | {} |",
            f.per_sec,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.max.as_secs_f64() * 1e3,
            f.errors
        );
        assert!(f.ops > 0, "no append committed");
    }
}
