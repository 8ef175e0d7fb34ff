//! `/metrics` of the real server: every family appears with sane values, counts grow with
//! the runs, and no label carries an execution id or a session name. One stateful node
//! (single-member raft group, S3 behind the local write-through cache, moto on loopback)
//! and one stateless node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp_v8_store::testing::{ACCESS_KEY, Moto, SECRET_KEY};
use serde_json::json;

use crate::server::{Server, free_port};

/// One sample: family+suffix name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

pub async fn scrape(s: &Server) -> Vec<Sample> {
    let text = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("name value");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').expect("label");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            (name.to_owned(), labels, value.parse().expect("number"))
        })
        .collect()
}

/// Sum of the samples named `name` whose labels include all of `want`.
pub fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn has(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|(n, _, _)| n == name)
}

async fn stateful_node(moto: &Moto, bucket: &str, dir: &std::path::Path) -> Server {
    let cluster = free_port();
    let args: Vec<String> = [
        "--session-db-path",
        &dir.join("db").display().to_string(),
        "--s3-bucket",
        bucket,
        "--s3-endpoint",
        &moto.endpoint(),
        "--s3-force-path-style",
        "--cache-dir",
        &dir.join("cache").display().to_string(),
        "--cluster-port",
        &cluster.to_string(),
        "--node-id",
        "node1",
        "--advertise-addr",
        &format!("127.0.0.1:{cluster}"),
        "--peers",
        &format!("1@127.0.0.1:{cluster}"),
        "--log",
        "error,openraft=off,mcp_v8_cluster=off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let envs = [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_REGION", "us-east-1"),
    ];
    Server::start_with_env(free_port(), &args, &envs).await
}

/// Runs `code` in `session` and returns the execution id.
async fn session_run(s: &Server, session: &str, code: &str) -> String {
    let (st, r) = s.exec(json!({ "code": code, "session": session })).await;
    assert_eq!((st, r["status"].as_str()), (200, Some("completed")), "{r}");
    r["execution_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_family_appears_with_bounded_labels() {
    let moto = Moto::start();
    let bucket = moto.bucket("metrics").await;
    let dir = tempfile::tempdir().unwrap();
    let s = stateful_node(&moto, &bucket, dir.path()).await;
    // The single member elects itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    while value(&scrape(&s).await, "mcpv8_raft_is_leader", &[]) != 1.0 {
        assert!(
            Instant::now() < deadline,
            "the single raft member never led"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let before = scrape(&s).await;
    let session = "secret-session-name";
    let mut ids = vec![session_run(&s, session, "var n = 1; n").await];
    ids.push(session_run(&s, session, "n += 1; 'x'.repeat(100000).length + n").await);
    let (st, r) = s.exec(json!({ "code": "throw new TypeError('no')" })).await;
    assert_eq!((st, r["status"].as_str()), (200, Some("failed")), "{r}");
    ids.push(r["execution_id"].as_str().unwrap().to_owned());
    let after = scrape(&s).await;

    let grew = |name: &str, want: &[(&str, &str)], by: f64| {
        let d = value(&after, name, want) - value(&before, name, want);
        assert!(
            d >= by,
            "{name}{want:?} grew by {d}, expected at least {by}"
        );
    };
    let completed = [("status", "completed"), ("mode", "stateful")];
    grew("mcpv8_executions_total", &completed, 2.0);
    grew("mcpv8_executions_total", &[("status", "failed")], 1.0);
    grew(
        "mcpv8_execution_duration_seconds_count",
        &[("mode", "stateful")],
        3.0,
    );
    grew("mcpv8_queue_wait_seconds_count", &[], 3.0);
    // The first run of the session starts from the startup snapshot, the second restores
    // the first one's heap; both completed, so both were snapshotted.
    grew("mcpv8_isolate_create_seconds_count", &[], 2.0);
    grew("mcpv8_snapshot_restore_seconds_count", &[], 1.0);
    grew("mcpv8_snapshot_create_seconds_count", &[], 2.0);
    grew("mcpv8_snapshot_bytes_count", &[], 2.0);
    let mean = value(&after, "mcpv8_snapshot_bytes_sum", &[])
        / value(&after, "mcpv8_snapshot_bytes_count", &[]);
    assert!(
        (100_000.0..64.0 * 1024.0 * 1024.0).contains(&mean),
        "mean snapshot {mean} bytes"
    );
    let put = [("backend", "cached"), ("op", "put"), ("result", "ok")];
    grew("mcpv8_store_operations_total", &put, 2.0);
    grew(
        "mcpv8_store_operations_total",
        &[("backend", "cached"), ("op", "get"), ("result", "ok")],
        1.0,
    );
    grew(
        "mcpv8_store_operation_duration_seconds_count",
        &[("backend", "cached"), ("op", "put")],
        2.0,
    );
    // The second run's heap was the first run's put: a cache hit.
    grew("mcpv8_heap_cache_hits_total", &[], 1.0);
    assert!(has(&after, "mcpv8_heap_cache_misses_total"));
    assert!(has(&after, "mcpv8_heap_cache_evictions_total"));
    assert!(value(&after, "mcpv8_heap_cache_bytes", &[]) > 0.0);
    assert!(value(&after, "mcpv8_heap_cache_entries", &[]) >= 2.0);
    assert_eq!(
        value(&after, "mcpv8_heap_cache_max_bytes", &[]),
        (1u64 << 30) as f64
    );
    grew(
        "mcpv8_http_requests_total",
        &[("route", "/api/exec"), ("status", "200")],
        3.0,
    );
    // Raft: a term, this node leads, two session entries applied and nothing pending.
    assert!(value(&after, "mcpv8_raft_term", &[]) >= 1.0);
    assert_eq!(value(&after, "mcpv8_raft_leader_id", &[]), 1.0);
    assert_eq!(value(&after, "mcpv8_raft_voters", &[]), 1.0);
    let applied = value(&after, "mcpv8_raft_applied_index", &[]);
    assert!(
        applied >= value(&before, "mcpv8_raft_applied_index", &[]) + 2.0,
        "applied {applied}"
    );
    assert!(value(&after, "mcpv8_raft_last_log_index", &[]) >= applied);
    assert!(has(&after, "mcpv8_raft_apply_lag"));
    for g in ["mcpv8_queued_runs", "mcpv8_running_runs"] {
        assert_eq!(value(&after, g, &[]), 0.0, "{g}");
    }
    assert!(value(&after, "mcpv8_workers", &[]) >= 1.0);

    // Bounded labels: no execution id, session name or code anywhere.
    for (name, labels, _) in &after {
        for v in labels.values() {
            assert!(
                !v.contains(session) && !v.contains("repeat"),
                "{name} {labels:?}"
            );
            assert!(
                ids.iter().all(|id| !v.contains(id.as_str())),
                "{name} {labels:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stateless_runs_are_counted_by_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--stateless"]).await;
    let before = scrape(&s).await;
    for code in ["1 + 1", "while (true) {}"] {
        let (st, _) = s
            .exec(json!({ "code": code, "execution_timeout_secs": 1 }))
            .await;
        assert_eq!(st, 200);
    }
    let after = scrape(&s).await;
    let d =
        |name: &str, want: &[(&str, &str)]| value(&after, name, want) - value(&before, name, want);
    assert_eq!(
        d(
            "mcpv8_executions_total",
            &[("mode", "stateless"), ("status", "completed")]
        ),
        1.0
    );
    assert_eq!(
        d(
            "mcpv8_executions_total",
            &[("mode", "stateless"), ("status", "timed_out")]
        ),
        1.0
    );
    assert_eq!(d("mcpv8_isolate_create_seconds_count", &[]), 2.0);
    assert_eq!(d("mcpv8_snapshot_create_seconds_count", &[]), 0.0);
    assert!(
        !has(&after, "mcpv8_store_operations_total"),
        "a stateless server has no store"
    );
    assert!(
        !has(&after, "mcpv8_raft_term"),
        "no raft outside cluster mode"
    );
    // Isolates from the startup snapshot take milliseconds, not seconds.
    let mean = value(&after, "mcpv8_isolate_create_seconds_sum", &[])
        / value(&after, "mcpv8_isolate_create_seconds_count", &[]);
    assert!(mean > 0.0 && mean < 1.0, "mean isolate creation {mean} s");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_can_move_to_their_own_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::server::free_port();
    let s = crate::server::Server::start_in(
        dir.path(),
        &["--stateless", "--metrics-port", &port.to_string()],
    )
    .await;
    let (status, _) = s.exec(serde_json::json!({ "code": "1" })).await;
    assert_eq!(status, 200);
    let main = reqwest::get(format!("{}/metrics", s.base)).await.unwrap();
    assert_eq!(main.status(), 404, "not on the API port any more");
    // A scraper reaches it by any name (no Host check on this port).
    let text = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .header("host", "mcp-v8.monitoring.svc:9090")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("mcpv8_executions_total{mode=\"stateless\",status=\"completed\"} 1"),
        "{text}"
    );
}
