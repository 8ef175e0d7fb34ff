//! Mutual TLS on the cluster port (`--cluster-tls-*`) with real `mcp-v8-meta`
//! processes: a CA and per-node certificates (SAN = the node's 127.0.x.y) are made
//! here with rcgen; a TLS cluster elects and replicates, plain HTTP and certificates
//! from another CA are refused, and incomplete or broken flags stop the node at start.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

use crate::harness::{self, Cluster, Node, SECRET};

/// A CA that signs node certificates into `dir`.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
    name: String,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
        Ca {
            cert,
            key,
            dir: dir.to_path_buf(),
            name: name.into(),
        }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join(format!("{}.crt", self.name))
    }

    /// A certificate for `ip`: (cert file, key file).
    fn issue(&self, file: &str, ip: Ipv4Addr) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![ip.to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.crt")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

fn tls_flags(cert: &Path, key: &Path, ca: &Path) -> Vec<String> {
    [
        ("--cluster-tls-cert", cert),
        ("--cluster-tls-key", key),
        ("--cluster-tls-ca", ca),
    ]
    .into_iter()
    .flat_map(|(f, p)| [f.to_string(), p.display().to_string()])
    .collect()
}

/// A client of the cluster port trusting `ca`, presenting `identity` if given.
fn https_client(ca: &Path, identity: Option<(&Path, &Path)>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(5));
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(key).unwrap();
        pem.extend(std::fs::read(cert).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// `GET /raft/info` over TLS: the status, or the error chain.
async fn info(client: &reqwest::Client, node: &Node) -> Result<u16, String> {
    let url = format!("https://{}/raft/info", node.cluster_addr());
    match client.get(url).bearer_auth(SECRET).send().await {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) => {
            let mut chain = e.to_string();
            let mut cur: &dyn std::error::Error = &e;
            while let Some(next) = cur.source() {
                chain = format!("{chain}: {next}");
                cur = next;
            }
            Err(chain)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_replicates_and_refuses_plain_http_and_other_cas() {
    let _g = harness::serial().await;
    let mut c = Cluster::new(41, 3);
    let pki = c.root.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    let ca = Ca::new(&pki, "ca");
    let peers: Vec<String> = c
        .nodes
        .iter()
        .map(|n| format!("node{}@{}", n.n, n.cluster_addr()))
        .collect();
    let secret = c.secret_file.clone();
    for node in &mut c.nodes {
        let (cert, key) = ca.issue(&format!("node{}", node.n), node.ip);
        node.extra = vec!["--peers".into(), peers.join(",")];
        node.extra.extend(tls_flags(&cert, &key, &ca.bundle()));
        node.start(&secret);
    }
    c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(20)).await;
    for n in 1..=3u32 {
        c.append(n, "tls", &format!("n{n}")).await.unwrap();
    }
    for n in 1..=3u32 {
        assert_eq!(c.codes(n, "tls").await.unwrap(), ["n1", "n2", "n3"]);
    }

    // Plain HTTP to the cluster port gets no answer: it speaks TLS only.
    let plain = c
        .http
        .get(format!("http://{}/raft/info", c.node(1).cluster_addr()))
        .bearer_auth(SECRET)
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");

    // A certificate from the cluster's CA is let in; none, or one from another CA, is not.
    let member = ca.issue("client", Ipv4Addr::new(127, 0, 41, 9));
    let ok = https_client(&ca.bundle(), Some((&member.0, &member.1)));
    // Once, on a loaded CI machine, the first connection closed before it was ready
    // ("connection was not ready"); a member is let in if a retry of a transport error
    // answers. A refused certificate fails every time (asserted below).
    let mut answer = info(&ok, c.node(1)).await;
    for _ in 0..3 {
        if answer.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        answer = info(&ok, c.node(1)).await;
    }
    assert_eq!(answer.unwrap(), 200);
    let anonymous = https_client(&ca.bundle(), None);
    let err = info(&anonymous, c.node(1)).await.unwrap_err();
    assert!(err.contains("CertificateRequired"), "{err}");
    let other = Ca::new(&pki, "other");
    let stranger_cert = other.issue("node4", Ipv4Addr::new(127, 0, 41, 4));
    let stranger = https_client(&ca.bundle(), Some((&stranger_cert.0, &stranger_cert.1)));
    let err = info(&stranger, c.node(1)).await.unwrap_err();
    assert!(err.contains("UnknownCA"), "{err}");
    // And a client that trusts only the other CA refuses the members' certificates.
    let distrustful = https_client(&other.bundle(), Some((&stranger_cert.0, &stranger_cert.1)));
    let err = info(&distrustful, c.node(1)).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // A node whose certificate comes from the other CA cannot join, even though it
    // trusts the cluster's CA and knows the secret: its RPCs are refused.
    let mut n4 = Node::new(c.root.path(), 4, Ipv4Addr::new(127, 0, 41, 4), None);
    n4.extra = vec!["--join".into(), c.node(1).cluster_addr()];
    n4.extra
        .extend(tls_flags(&stranger_cert.0, &stranger_cert.1, &ca.bundle()));
    n4.start(&secret);
    c.nodes.push(n4);
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        let voters = c.status(1).await.map(|s| s["voters"].clone());
        assert_eq!(voters, Some(serde_json::json!([1, 2, 3])));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s4 = c.status(4).await.expect("node4 serves its status");
    assert!(s4["leader"].is_null(), "node4 joined: {s4}");
    let log1 = std::fs::read_to_string(&c.node(1).log).unwrap();
    assert!(
        log1.contains("TLS handshake failed")
            && log1.contains("invalid peer certificate: UnknownIssuer"),
        "node1 did not log the refused handshake:\n{}",
        c.node(1).log_tail()
    );
}

/// Runs `mcp-v8-meta` with `args` expecting it to exit with an error; returns stderr.
fn start_fails(dir: &Path, args: &[String]) -> String {
    let ip = Ipv4Addr::new(127, 0, 42, 1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-v8-meta"))
        .args(["--bind-host", "127.0.42.1", "--node-id", "node1"])
        .args(["--http-port", &harness::free_port(ip).to_string()])
        .args(["--cluster-port", &harness::free_port(ip).to_string()])
        .arg("--session-db-path")
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mcp-v8-meta {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{args:?} started: {err}");
    err
}

#[test]
fn incomplete_or_broken_tls_flags_stop_the_node_at_start() {
    let root = tempfile::tempdir().unwrap();
    let ca = Ca::new(root.path(), "ca");
    let ip = Ipv4Addr::new(127, 0, 42, 1);
    let (cert, key) = ca.issue("node1", ip);
    let (_, other_key) = ca.issue("node2", ip);
    let dir = root.path().join("data");
    let s = |p: &Path| p.display().to_string();

    let err = start_fails(&dir, &["--cluster-tls-cert".into(), s(&cert)]);
    assert!(
        err.contains("--cluster-tls-key, --cluster-tls-ca missing"),
        "{err}"
    );
    let err = start_fails(
        &dir,
        &[
            "--cluster-tls-key".into(),
            s(&key),
            "--cluster-tls-ca".into(),
            s(&ca.bundle()),
        ],
    );
    assert!(err.contains("--cluster-tls-cert missing"), "{err}");

    let absent = root.path().join("absent.crt");
    let err = start_fails(&dir, &tls_flags(&cert, &key, &absent));
    assert!(
        err.contains(&format!(
            "cannot read --cluster-tls-ca {}",
            absent.display()
        )),
        "{err}"
    );

    let garbage = root.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let err = start_fails(&dir, &tls_flags(&garbage, &key, &ca.bundle()));
    assert!(
        err.contains(&format!(
            "--cluster-tls-cert {} is not valid PEM",
            garbage.display()
        )),
        "{err}"
    );
    let err = start_fails(&dir, &tls_flags(&cert, &garbage, &ca.bundle()));
    assert!(
        err.contains(&format!(
            "--cluster-tls-key {} is not valid PEM",
            garbage.display()
        )),
        "{err}"
    );

    let err = start_fails(&dir, &tls_flags(&cert, &other_key, &ca.bundle()));
    assert!(err.contains("are unusable together"), "{err}");
}
