//! Three real `mcp-v8` processes in cluster mode on loopback, sharing one heap
//! directory: session logs replicate, a session moves between nodes, execution queries
//! are forwarded to the node that ran them, and killing the leader under load loses no
//! acknowledged session entry.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::{Server, free_port, slow_printer};

struct Cluster {
    nodes: Vec<Option<Server>>,
    _dir: tempfile::TempDir,
}

fn node_args(dir: &Path, i: usize, cluster_ports: &[u16]) -> Vec<String> {
    let peers: Vec<String> = cluster_ports
        .iter()
        .enumerate()
        .map(|(j, p)| format!("{}@127.0.0.1:{p}", j + 1))
        .collect();
    [
        "--session-db-path",
        &dir.join(format!("db{}", i + 1)).display().to_string(),
        "--directory-path",
        &dir.join("heaps").display().to_string(),
        "--cluster-port",
        &cluster_ports[i].to_string(),
        "--node-id",
        &format!("node{}", i + 1),
        "--advertise-addr",
        &format!("127.0.0.1:{}", cluster_ports[i]),
        "--peers",
        &peers.join(","),
        "--log",
        "error,openraft=off,mcp_v8_cluster=off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for i in 0..3 {
            let args = node_args(dir.path(), i, &ports);
            nodes.push(Some(Server::start_with(free_port(), &args).await));
        }
        let c = Cluster { nodes, _dir: dir };
        c.leader().await;
        c
    }

    fn node(&self, i: usize) -> &Server {
        self.nodes[i].as_ref().expect("node is up")
    }

    /// The index of the node all live members agree leads.
    async fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut leaders = Vec::new();
            for s in self.nodes.iter().flatten() {
                let (_, st) = s.get("/cluster/status").await;
                leaders.push(st["leader"].as_u64());
            }
            if let Some(Some(l)) = leaders.first()
                && leaders.iter().all(|x| *x == Some(*l))
                && self.nodes[*l as usize - 1].is_some()
            {
                return *l as usize - 1;
            }
            assert!(Instant::now() < deadline, "no agreed leader: {leaders:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn entries(s: &Server, session: &str) -> Vec<Value> {
    let (_, e) = s.get(&format!("/meta/sessions/{session}/entries")).await;
    e.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_session_moves_between_nodes_and_queries_are_forwarded() {
    let c = Cluster::start().await;
    for i in 1..=3 {
        let (status, r) = c
            .node(0)
            .exec(json!({"code": format!("globalThis.n = (globalThis.n ?? 0) + 1; n * {i} / {i}"), "session": "moving"}))
            .await;
        assert_eq!(
            (status, r["result"].as_str()),
            (200, Some(i.to_string().as_str())),
            "{r}"
        );
    }
    let (_, r) = c
        .node(2)
        .exec(json!({"code": "n + 1", "session": "moving"}))
        .await;
    assert_eq!(
        r["result"], "4",
        "node 3 resumed the session's latest heap: {r}"
    );
    for node in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(5);
        while entries(c.node(node), "moving").await.len() < 4 {
            assert!(Instant::now() < deadline, "node {} lacks entries", node + 1);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let id = c.node(0).start_async(&slow_printer(100, 30)).await;
    assert!(id.starts_with("node1.1."), "{id}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, rec) = c.node(1).get(&format!("/api/executions/{id}")).await;
    assert_eq!(
        (status, rec["status"].as_str()),
        (200, Some("running")),
        "{rec}"
    );
    let (_, out) = c
        .node(2)
        .get(&format!("/api/executions/{id}/output?line_limit=2"))
        .await;
    assert_eq!(out["data"], "line 0\nline 1\n", "{out}");
    let (_, cancelled) = c
        .node(2)
        .post(&format!("/api/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let (status, _) = c
        .node(1)
        .get("/api/executions/node1.1.00000000000000000000000000000000")
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn killing_the_leader_under_load_loses_no_acknowledged_entry() {
    let mut c = Cluster::start().await;
    let leader = c.leader().await;
    let writer = (leader + 1) % 3;
    let mut acked: Vec<String> = Vec::new();
    let mut killed = false;
    for i in 0..40 {
        if i == 10 {
            c.nodes[leader].as_mut().unwrap().kill();
            c.nodes[leader] = None;
            killed = true;
        }
        let (status, r) = c
            .node(writer)
            .exec(json!({"code": format!("globalThis.v = {i}; v"), "session": "load"}))
            .await;
        if status == 200 && r["status"] == "completed" && r["error"].is_null() {
            acked.push(r["heap"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        killed && acked.len() >= 30,
        "most runs are acknowledged across the failover: {}",
        acked.len()
    );
    c.leader().await;
    for s in c.nodes.iter().flatten() {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let logged: Vec<String> = entries(s, "load")
                .await
                .iter()
                .filter_map(|e| e["output_heap"].as_str().map(str::to_owned))
                .collect();
            let missing = acked.iter().filter(|h| !logged.contains(h)).count();
            if missing == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} acknowledged entries missing on port {}",
                s.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
