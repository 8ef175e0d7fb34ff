//! The shared suite against the etcd backend, on a real `etcd` started on loopback by
//! the test (`make tools` installs Debian's etcd-server; `ETCD_BIN` overrides the path).

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_v8_cluster::MetaStore;
use mcp_v8_cluster::etcd::EtcdStore;

use crate::{harness, suite};

struct Etcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn etcd_bin() -> String {
    let bin = std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into());
    let found = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        found.is_ok_and(|s| s.success()),
        "etcd not found as {bin:?}: run `make tools` (installs Debian's etcd-server) or set ETCD_BIN"
    );
    bin
}

async fn start_etcd() -> Etcd {
    let bin = etcd_bin();
    let dir = tempfile::tempdir().unwrap();
    let client = harness::free_port(Ipv4Addr::LOCALHOST);
    let peer = harness::free_port(Ipv4Addr::LOCALHOST);
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
    let child = Command::new(bin)
        .args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("t={peer_url}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let etcd = Etcd {
        child,
        url,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/health", etcd.url)).await
            && r.status().is_success()
        {
            return etcd;
        }
        assert!(
            Instant::now() < deadline,
            "etcd did not become healthy on {}",
            etcd.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_store_passes_the_shared_suite_and_shares_state() {
    let etcd = start_etcd().await;
    let endpoints = vec![etcd.url.clone()];
    let store = EtcdStore::connect(&endpoints, "suite/").await.unwrap();
    suite::run_all(&store).await;

    // Two replicas appending to one session concurrently get distinct, gap-free indices.
    let a = EtcdStore::connect(&endpoints, "race/").await.unwrap();
    let b = EtcdStore::connect(&endpoints, "race/").await.unwrap();
    let run = |s: EtcdStore, who: &'static str| async move {
        let mut got = Vec::new();
        for k in 0..15u32 {
            got.push(
                s.append_entry(suite::entry("race", None, k, &format!("{who}{k}"), None))
                    .await
                    .unwrap(),
            );
        }
        got
    };
    let (ia, ib) = tokio::join!(run(a.clone(), "a"), run(b.clone(), "b"));
    let mut all: Vec<u64> = ia.into_iter().chain(ib).collect();
    all.sort_unstable();
    assert_eq!(all, (0..30).collect::<Vec<u64>>());
    assert_eq!(b.list_entries("race", None).await.unwrap().len(), 30);
    // Prefixes isolate deployments sharing one etcd.
    assert!(a.list_sessions(None).await.unwrap() == ["race"]);
}
