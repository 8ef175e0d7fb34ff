//! Engine benchmark: per-run CPU and wall time of the paths the issue names, next to
//! a Node.js `vm` baseline measured in the same run. `cargo bench -p mcp-v8 --bench
//! engine` (or `make bench`); ITERATIONS overrides the default count.
#![allow(clippy::print_stdout, reason = "a benchmark prints its table")]

use std::sync::Arc;
use std::time::Instant;

use mcp_v8::config::EngineArgs;
use mcp_v8::engine::limits::StopFlag;
use mcp_v8::engine::runtime::Isolate;
use mcp_v8::pool::{Pool, PoolConfig};
use mcp_v8::runner::{RunRequest, Runner};
use mcp_v8_store::{DirStore, HeapStore};

mod floors;

const EXE: &str = env!("CARGO_BIN_EXE_mcp-v8");

/// utime + stime of a process, in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, by position: state is 0, so utime (field 14 of
    // stat(5)) is 11 and stime 12. Position matters: tpgid is -1 without a terminal.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let field = |i: usize| -> f64 {
        after
            .split_whitespace()
            .nth(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks of 10 ms (USER_HZ = 100 on Linux).
    (field(11) + field(12)) * 10.0
}

fn rss_mb(pid: u32) -> f64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(0.0)
        * 4096.0
        / 1048576.0
}

struct Row {
    name: String,
    iterations: usize,
    cpu_ms: f64,
    wall_ms: f64,
    baseline: Option<(String, f64)>,
    target: Option<f64>,
}

fn all_cpu(pool: &Pool) -> f64 {
    cpu_ms(std::process::id()) + pool.worker_pids().iter().map(|p| cpu_ms(*p)).sum::<f64>()
}

async fn through_pool(runner: &Runner, n: usize, heap: Option<&str>, code: &str) -> (f64, f64) {
    let c0 = all_cpu(runner.pool());
    let t0 = Instant::now();
    for _ in 0..n {
        let req = RunRequest {
            code: code.into(),
            heap: heap.map(str::to_owned),
            ..Default::default()
        };
        let f = runner.run(req).await.expect("run");
        assert!(f.error.is_none(), "{f:?}");
    }
    let wall = t0.elapsed().as_secs_f64() * 1000.0 / n as f64;
    ((all_cpu(runner.pool()) - c0) / n as f64, wall)
}

fn engine_args() -> EngineArgs {
    EngineArgs {
        heap_memory_max: 64,
        execution_timeout: 60,
        max_concurrent_executions: Some(1),
        max_queued_executions: 64,
        worker_recycle_mb: 512,
        max_output_bytes: 1 << 20,
        heap_memory_default: None,
        execution_timeout_default: None,
    }
}

fn node_baseline(n: usize) -> Vec<(String, f64, f64)> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../e2e/bench/node_vm_baseline.js"
    );
    let out = std::process::Command::new("node")
        .arg(script)
        .arg(n.to_string())
        .output()
        .expect("node is installed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("baseline JSON");
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["cpu_ms"].as_f64().unwrap(),
                r["wall_ms"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let node = node_baseline(n);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();

    // 1. A fresh isolate from the startup snapshot, in this process.
    let snap = dir.path().join("startup.snapshot");
    let ok = std::process::Command::new(EXE)
        .args(["__snapshot", "--out"])
        .arg(&snap)
        .status()
        .unwrap();
    assert!(ok.success());
    let startup: &'static [u8] = Box::leak(std::fs::read(&snap).unwrap().into_boxed_slice());
    {
        let _enter = rt.enter();
        let stop = Arc::new(StopFlag::default());
        let modules = std::rc::Rc::new(
            mcp_v8::io::modules::Modules::new(&mcp_v8::io::IoConfig::default().modules).unwrap(),
        );
        // Alive throughout, as a plain worker's keeper isolate is (engine/mod.rs).
        let mut keeper = Isolate::new(false, startup, None, 64 << 20, &stop, modules.clone());
        let c0 = cpu_ms(std::process::id());
        let t0 = Instant::now();
        for _ in 0..n {
            drop(Isolate::new(
                false,
                startup,
                None,
                64 << 20,
                &stop,
                modules.clone(),
            ));
        }
        rows.push(Row {
            name: "fresh isolate from startup snapshot".into(),
            iterations: n,
            cpu_ms: (cpu_ms(std::process::id()) - c0) / n as f64,
            wall_ms: t0.elapsed().as_secs_f64() * 1000.0 / n as f64,
            baseline: Some((node[0].0.clone(), node[0].1)),
            target: Some(1.0),
        });
        let (cpu, wall) = floors::deno_core_realm_per_run(keeper.js(), n);
        rows.push(Row {
            name: "reference: deno_core realm copy per run in one live isolate".into(),
            iterations: n,
            cpu_ms: cpu,
            wall_ms: wall,
            baseline: None,
            target: None,
        });
    }

    {
        let _enter = rt.enter();
        let m = (n / 5).max(20);
        let (cpu, wall) = floors::bare_isolate_per_run(n);
        rows.push(Row {
            name: "floor: bare V8 isolate + context per run (no deno_core)".into(),
            iterations: n,
            cpu_ms: cpu,
            wall_ms: wall,
            baseline: None,
            target: None,
        });
        let (cpu, wall) = floors::bare_context_per_run(n);
        rows.push(Row {
            name: "reference: bare V8 context per run in one live isolate".into(),
            iterations: n,
            cpu_ms: cpu,
            wall_ms: wall,
            baseline: None,
            target: None,
        });
        let (cpu, wall, mb) = floors::bare_v8_round_trips(m);
        rows.push(Row {
            name: format!("floor: bare V8 context (no deno_core) restore+run+snapshot, {mb:.2} MB"),
            iterations: m,
            cpu_ms: cpu,
            wall_ms: wall,
            baseline: None,
            target: None,
        });
    }

    rt.block_on(async {
        // 2. Stateless `1+1` end to end through the worker pool.
        let pool = Pool::start(PoolConfig { workers: 1, queue_capacity: 64, stateful: false, worker_exe: EXE.into(), recycle_above_mb: 512, io: Default::default(), log_args: Vec::new() }).await.unwrap();
        let runner = Runner::new(pool, None, engine_args());
        through_pool(&runner, 20, None, "1+1").await;
        let (cpu, wall) = through_pool(&runner, n, None, "1+1").await;
        rows.push(Row { name: "stateless 1+1 via pool".into(), iterations: n, cpu_ms: cpu, wall_ms: wall, baseline: Some((node[1].0.clone(), node[1].1)), target: Some(1.5) });
        drop(runner);

        // 3. Stateful: restore + run + snapshot (+ store) for a small and a ~4 MB heap.
        let store: Arc<dyn HeapStore> = Arc::new(DirStore::open(dir.path().join("heaps")).unwrap());
        let pool = Pool::start(PoolConfig { workers: 1, queue_capacity: 64, stateful: true, worker_exe: EXE.into(), recycle_above_mb: 512, io: Default::default(), log_args: Vec::new() }).await.unwrap();
        let runner = Runner::new(pool, Some(store.clone()), engine_args());
        let small = runner.run(RunRequest { code: "var counter = 0".into(), ..Default::default() }).await.unwrap().heap.unwrap();
        let big_code = "var blob = []; for (let i = 0; i < 60000; i++) blob.push({i, s: 'item-' + i}); blob.length";
        let big = runner.run(RunRequest { code: big_code.into(), ..Default::default() }).await.unwrap().heap.unwrap();
        let size = |id: &str| {
            let id = id.parse().unwrap();
            let store = store.clone();
            async move { store.get(&id).await.unwrap().bytes.len() as f64 / 1048576.0 }
        };
        let (small_mb, big_mb) = (size(&small).await, size(&big).await);
        let m = (n / 5).max(20);
        through_pool(&runner, 10, Some(&small), "counter++").await;
        let (cpu, wall) = through_pool(&runner, m, Some(&small), "counter++").await;
        rows.push(Row { name: format!("stateful restore+run+snapshot, {small_mb:.2} MB heap"), iterations: m, cpu_ms: cpu, wall_ms: wall, baseline: Some((node[2].0.clone(), node[2].1)), target: Some(8.0) });
        let (cpu, wall) = through_pool(&runner, m / 4, Some(&big), "blob.length").await;
        rows.push(Row { name: format!("stateful restore+run+snapshot, {big_mb:.2} MB heap"), iterations: m / 4, cpu_ms: cpu, wall_ms: wall, baseline: None, target: None });
        drop(runner);

        // 4. RSS of the workers over 10,000 stateful runs.
        let pool = Pool::start(PoolConfig { workers: 2, queue_capacity: 64, stateful: true, worker_exe: EXE.into(), recycle_above_mb: 512, io: Default::default(), log_args: Vec::new() }).await.unwrap();
        let runner = Arc::new(Runner::new(pool, Some(store.clone()), EngineArgs { max_concurrent_executions: Some(2), ..engine_args() }));
        let total: usize = std::env::var("RSS_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
        let mut samples = Vec::new();
        for chunk in 0..10 {
            let per = total / 10;
            let mut tasks = Vec::new();
            for w in 0..2 {
                let runner = runner.clone();
                let small = small.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..per / 2 + w * (per % 2) {
                        runner.run(RunRequest { code: "counter++".into(), heap: Some(small.clone()), ..Default::default() }).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let rss: f64 = runner.pool().worker_pids().iter().map(|p| rss_mb(*p)).sum();
            samples.push(((chunk + 1) * per, rss));
        }
        println!("\nworker RSS (both workers, MB) after N stateful runs:");
        for (runs, rss) in &samples {
            println!("  {runs:>6} runs: {rss:7.1} MB");
        }
        let first = samples[0].1;
        let last = samples.last().unwrap().1;
        println!("  growth from first to last sample: {:+.1} MB ({:+.1}%)", last - first, (last - first) / first * 100.0);
    });

    println!(
        "\nmachine: {} CPUs, {}",
        num_cpus(),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_owned())
            )
            .unwrap_or_default()
    );
    println!(
        "| path | runs | CPU ms/run | wall ms/run | target CPU | Node.js vm baseline (CPU ms/run) | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|");
    for r in rows {
        let (bname, bcpu) = r.baseline.clone().unwrap_or_else(|| ("-".into(), f64::NAN));
        let ratio = if bcpu.is_nan() {
            "-".into()
        } else {
            format!("{:.1}x", r.cpu_ms / bcpu)
        };
        let target = r.target.map_or("-".into(), |t| format!("≤ {t} ms"));
        println!(
            "| {} | {} | {:.3} | {:.3} | {} | {} ({:.3}) | {} |",
            r.name, r.iterations, r.cpu_ms, r.wall_ms, target, bname, bcpu, ratio
        );
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
