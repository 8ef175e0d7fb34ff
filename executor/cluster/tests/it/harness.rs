//! Real `mcp-v8-meta` processes on loopback for the cluster tests: each node gets its
//! own 127.0.0.x address, free ports, a data directory and a log file; nodes are killed
//! when dropped. Multi-process tests hold `serial()` so their timing is not skewed by
//! each other on a small machine.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const SECRET: &str = "test-cluster-secret";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

pub use mcp_v8_store::testing::free_port_on as free_port;

/// A port free on every given address (DNS discovery needs one cluster port for all).
pub fn common_free_port(ips: &[Ipv4Addr]) -> u16 {
    loop {
        let p = free_port(ips[0]);
        if ips.iter().all(|ip| TcpListener::bind((*ip, p)).is_ok()) {
            return p;
        }
    }
}

pub struct Node {
    pub n: u32,
    pub ip: Ipv4Addr,
    pub http: u16,
    pub cluster: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub extra: Vec<String>,
    /// Raft timing flags; tests default to short heartbeats and frequent snapshots.
    pub timings: Vec<String>,
    child: Option<Child>,
}

impl Node {
    pub fn new(root: &std::path::Path, n: u32, ip: Ipv4Addr, cluster: Option<u16>) -> Node {
        Node {
            n,
            ip,
            http: free_port(ip),
            cluster: cluster.unwrap_or_else(|| free_port(ip)),
            dir: root.join(format!("node{n}")),
            log: root.join(format!("node{n}.log")),
            extra: Vec::new(),
            timings: [
                "--heartbeat-interval=50",
                "--election-timeout-min=250",
                "--election-timeout-max=500",
                "--raft-snapshot-every=50",
            ]
            .map(String::from)
            .to_vec(),
            child: None,
        }
    }

    pub fn cluster_addr(&self) -> String {
        format!("{}:{}", self.ip, self.cluster)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.http)
    }

    pub fn start(&mut self, secret_file: &std::path::Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mcp-v8-meta"))
            .args([
                "--http-port",
                &self.http.to_string(),
                "--bind-host",
                &self.ip.to_string(),
            ])
            .args([
                "--cluster-port",
                &self.cluster.to_string(),
                "--node-id",
                &format!("node{}", self.n),
            ])
            .args(["--advertise-addr", &self.cluster_addr()])
            .arg("--session-db-path")
            .arg(&self.dir)
            .arg("--cluster-secret-file")
            .arg(secret_file)
            .args(&self.timings)
            .args(&self.extra)
            .env("RUST_LOG", "info,openraft=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mcp-v8-meta starts");
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("node running").id();
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let panics = s.lines().filter(|l| l.contains("panicked")).take(3);
        let tail = s
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev();
        panics.chain(tail).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_ref() {
            // A paused node must be resumed to die promptly.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill9();
    }
}

pub struct Cluster {
    pub root: tempfile::TempDir,
    pub secret_file: PathBuf,
    pub nodes: Vec<Node>,
    pub http: reqwest::Client,
}

impl Cluster {
    /// `n` nodes on 127.0.<subnet>.1..=n, not started.
    pub fn new(subnet: u8, n: u32) -> Cluster {
        let root = tempfile::tempdir().unwrap();
        let secret_file = root.path().join("secret");
        std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
        let nodes = (1..=n)
            .map(|i| Node::new(root.path(), i, Ipv4Addr::new(127, 0, subnet, i as u8), None))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        Cluster {
            root,
            secret_file,
            nodes,
            http,
        }
    }

    /// Starts every node with static `--peers` naming all of them.
    pub fn start_static(&mut self) {
        let peers: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("node{}@{}", n.n, n.cluster_addr()))
            .collect();
        let secret = self.secret_file.clone();
        for node in &mut self.nodes {
            node.extra = vec!["--peers".into(), peers.join(",")];
            node.start(&secret);
        }
    }

    pub fn node(&self, n: u32) -> &Node {
        self.nodes.iter().find(|x| x.n == n).unwrap()
    }

    pub fn node_mut(&mut self, n: u32) -> &mut Node {
        self.nodes.iter_mut().find(|x| x.n == n).unwrap()
    }

    pub async fn status(&self, n: u32) -> Option<Value> {
        let r = self
            .http
            .get(self.node(n).url("/cluster/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        r.status().is_success().then_some(())?;
        r.json().await.ok()
    }

    /// Waits until every listed running node agrees on a leader and has `voters` voters.
    pub async fn wait_stable(&self, among: &[u32], voters: usize, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let mut leaders = Vec::new();
            for n in among {
                match self.status(*n).await {
                    Some(s) if s["voters"].as_array().map(Vec::len) == Some(voters) => {
                        leaders.push(s["leader"].as_u64());
                    }
                    _ => leaders.push(None),
                }
            }
            if let Some(Some(l)) = leaders.first()
                && leaders.iter().all(|x| *x == Some(*l))
                && among.contains(&(*l as u32))
            {
                return *l;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = among
                    .iter()
                    .map(|n| format!("--- node{n}\n{}", self.node(*n).log_tail()))
                    .collect();
                panic!(
                    "cluster {among:?} not stable with {voters} voters: {leaders:?}\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn append(&self, n: u32, session: &str, code: &str) -> Result<u64, String> {
        let body = json!({"input_heap": null, "output_heap": format!("{:064x}", 7), "code": code});
        let url = self
            .node(n)
            .url(&format!("/meta/sessions/{session}/entries"));
        let r = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {v}"));
        }
        v["index"]
            .as_u64()
            .ok_or_else(|| format!("no index in {v}"))
    }

    /// The session's codes in index order, read on node `n` (asserting gap-free indices).
    pub async fn codes(&self, n: u32, session: &str) -> Result<Vec<String>, String> {
        let url = self.node(n).url(&format!(
            "/meta/sessions/{session}/entries?fields=index,code"
        ));
        let r = self.http.get(url).send().await.map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!(
                "{}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
        let v: Vec<Value> = r.json().await.map_err(|e| e.to_string())?;
        for (i, e) in v.iter().enumerate() {
            assert_eq!(e["index"].as_u64(), Some(i as u64), "indices are gap-free");
        }
        Ok(v.iter()
            .map(|e| e["code"].as_str().unwrap().to_string())
            .collect())
    }

    /// Waits until node `n` serves a session log with at least `len` entries.
    pub async fn wait_codes(
        &self,
        n: u32,
        session: &str,
        len: usize,
        within: Duration,
    ) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let r = self.codes(n, session).await;
            if let Ok(c) = &r
                && c.len() >= len
            {
                return c.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "node{n} never served {len} entries: {r:?}\n{}",
                    self.node(n).log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Appends `code-<k>` to `session` in a loop over `targets` (round robin) until `stop`,
/// returning every acknowledged (index, code).
pub async fn writer(
    http: reqwest::Client,
    urls: Vec<String>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<(u64, String)> {
    let mut acked = Vec::new();
    let mut k = 0u64;
    while !*stop.borrow() {
        let url = &urls[k as usize % urls.len()];
        let code = format!("code-{k}");
        k += 1;
        let body = json!({"input_heap": null, "output_heap": format!("{:064x}", k), "code": code});
        let Ok(r) = http
            .post(url)
            .json(&body)
            .timeout(Duration::from_secs(8))
            .send()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if r.status().is_success()
            && let Ok(v) = r.json::<Value>().await
            && let Some(i) = v["index"].as_u64()
        {
            acked.push((i, code));
        }
    }
    acked
}

/// Asserts that every acknowledged entry is in `codes` at the index it was given.
pub fn assert_all_acked(codes: &[String], acked: &[(u64, String)], who: &str) {
    for (i, code) in acked {
        assert_eq!(
            codes.get(*i as usize),
            Some(code),
            "{who} lost acknowledged entry {i} ({code})"
        );
    }
}
