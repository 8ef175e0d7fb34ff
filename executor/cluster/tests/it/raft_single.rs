//! The shared suite against the raft backend (an in-process one-member cluster), and
//! execution forwarding over the cluster port.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clap::Parser;
use mcp_v8_cluster::{
    ClusterArgs, ExecForwarder, ExecRequest, ExecutionHost, MetaError, OutputQuery,
};
use serde_json::{Value, json};

use crate::{harness, suite};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
}

fn args(port: u16, secret_file: &std::path::Path) -> ClusterArgs {
    Cli::parse_from([
        "x",
        "--cluster-port",
        &port.to_string(),
        "--advertise-addr",
        &format!("127.0.0.1:{port}"),
        "--cluster-secret-file",
        secret_file.to_str().unwrap(),
        "--heartbeat-interval",
        "50",
        "--election-timeout-min",
        "150",
        "--election-timeout-max",
        "300",
    ])
    .cluster
}

/// A node-local execution registry as small as the forwarding contract allows.
struct Registry(HashMap<String, Value>);

#[async_trait]
impl ExecutionHost for Registry {
    async fn get_execution(&self, id: &str) -> Result<Value, MetaError> {
        self.0
            .get(id)
            .cloned()
            .ok_or_else(|| MetaError::NotFound(format!("execution {id}")))
    }
    async fn get_execution_output(&self, id: &str, q: &OutputQuery) -> Result<Value, MetaError> {
        let rec = self.get_execution(id).await?;
        let out = rec["output"].as_str().unwrap_or_default();
        let start = q.byte_offset.unwrap_or(0) as usize;
        let end = (start + q.byte_limit.unwrap_or(u64::MAX >> 1) as usize).min(out.len());
        Ok(json!({"data": &out[start.min(end)..end], "total_bytes": out.len()}))
    }
    async fn cancel_execution(&self, id: &str) -> Result<Value, MetaError> {
        self.get_execution(id)
            .await
            .map(|_| json!({"execution_id": id, "status": "cancelled"}))
    }
}

async fn wait_leader(meta: &mcp_v8_cluster::Metadata) {
    let node = meta.node.as_ref().unwrap();
    for _ in 0..200 {
        if node.status().leader == Some(1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("single node never became leader: {:?}", node.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_store_passes_the_shared_suite_and_forwards_executions() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, harness::SECRET).unwrap();
    let port = harness::free_port(Ipv4Addr::LOCALHOST);
    let mut records = HashMap::new();
    records.insert(
        "node1-e1".to_string(),
        json!({"execution_id": "node1-e1", "status": "completed", "output": "hello\nworld\n"}),
    );
    let host: Arc<dyn ExecutionHost> = Arc::new(Registry(records));
    let meta = mcp_v8_cluster::start(
        &args(port, &secret),
        &dir.path().join("db"),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(host),
    )
    .await
    .unwrap();
    wait_leader(&meta).await;
    assert_eq!(meta.store.backend(), "raft");
    suite::run_all(meta.store.as_ref()).await;

    let node = meta.node.clone().unwrap();
    let status = node.status();
    assert_eq!(
        (status.node_id.as_str(), status.voters.as_slice()),
        ("node1", &[1][..])
    );
    assert!(status.commit_index.unwrap() > 20, "{status:?}");

    let fwd = ExecForwarder::new(node.clone());
    let rec = fwd
        .forward(
            1,
            &ExecRequest::Get {
                execution_id: "node1-e1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rec["status"], "completed");
    let q = OutputQuery {
        byte_offset: Some(6),
        byte_limit: Some(5),
        ..Default::default()
    };
    let out = fwd
        .forward(
            1,
            &ExecRequest::Output {
                execution_id: "node1-e1".into(),
                query: q,
            },
        )
        .await
        .unwrap();
    assert_eq!(out["data"], "world");
    let c = fwd
        .forward(
            1,
            &ExecRequest::Cancel {
                execution_id: "node1-e1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(c["status"], "cancelled");
    let missing = fwd
        .forward(
            1,
            &ExecRequest::Get {
                execution_id: "node1-nope".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(missing.metric_label(), "not_found");
    let stranger = fwd
        .forward(
            9,
            &ExecRequest::Get {
                execution_id: "node9-e1".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(stranger.metric_label(), "not_found");

    // The forwarding RPC is on the authenticated cluster port.
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/exec"))
        .json(&ExecRequest::Get {
            execution_id: "node1-e1".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    node.shutdown().await;
}

#[tokio::test]
async fn local_and_cluster_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let bad = Cli::parse_from(["x", "--cluster-port", "1", "--node-id", "leader"]).cluster;
    let e = mcp_v8_cluster::start(&bad, dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST), None)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("trailing number"), "{e}");
    let bad =
        Cli::parse_from(["x", "--cluster-port", "1", "--election-timeout-min", "600"]).cluster;
    let e = mcp_v8_cluster::start(&bad, dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST), None)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("election-timeout"), "{e}");
    let local = Cli::parse_from(["x"]).cluster;
    let meta = mcp_v8_cluster::start(&local, dir.path(), IpAddr::V4(Ipv4Addr::LOCALHOST), None)
        .await
        .unwrap();
    assert_eq!(meta.store.backend(), "local");
    assert!(dir.path().join("meta.redb").exists());
}
