//! Discovery through DNS: a small DNS server on loopback (started by the test) answers
//! the headless-Service name with the members' addresses, as Kubernetes would.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::harness::{self, Cluster};

/// Answers A queries for `name` with the current `records`; NXDOMAIN for other names,
/// an empty answer for other types.
pub struct DnsServer {
    pub addr: SocketAddr,
    pub records: Arc<Mutex<Vec<Ipv4Addr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn parse_question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    Some((format!("{}.", labels.join(".")), qtype, i + 4))
}

fn answer(q: &[u8], name: &str, records: &[Ipv4Addr]) -> Option<Vec<u8>> {
    let (qname, qtype, end) = parse_question(q)?;
    let found = qname == name;
    let ips: &[Ipv4Addr] = if found && qtype == 1 { records } else { &[] };
    let mut r = Vec::with_capacity(end + 16 * ips.len());
    r.extend_from_slice(&q[0..2]); // id
    let rd = q[2] & 0x01;
    r.push(0x84 | rd); // QR, AA, RD echoed
    r.push(if found { 0x80 } else { 0x83 }); // RA; NXDOMAIN for unknown names
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&q[12..end]);
    for ip in ips {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}

impl DnsServer {
    pub async fn start(name: &str) -> DnsServer {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let records: Arc<Mutex<Vec<Ipv4Addr>>> = Arc::default();
        let (recs, name) = (records.clone(), name.to_string());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let ips = recs.lock().unwrap().clone();
                if let Some(resp) = answer(&buf[..n], &name, &ips) {
                    let _ = sock.send_to(&resp, from).await;
                }
            }
        });
        DnsServer {
            addr,
            records,
            task,
        }
    }
}

#[tokio::test]
async fn the_test_dns_server_answers_through_the_resolver() {
    let dns = DnsServer::start("svc.test.").await;
    dns.records
        .lock()
        .unwrap()
        .extend([Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 2)]);
    let mut ips = mcp_v8_cluster::discovery::resolve("svc.test.", Some(dns.addr))
        .await
        .unwrap();
    ips.sort();
    assert_eq!(
        ips,
        [Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 2)]
    );
    assert!(
        mcp_v8_cluster::discovery::resolve("other.test.", Some(dns.addr))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_each_other_through_dns() {
    let _g = harness::serial().await;
    let dns = DnsServer::start("meta.test.").await;
    let ips: Vec<Ipv4Addr> = (1..=3).map(|i| Ipv4Addr::new(127, 0, 36, i)).collect();
    let port = harness::common_free_port(&ips);
    let mut c = Cluster::new(36, 3);
    let secret = c.secret_file.clone();
    for (node, ip) in c.nodes.iter_mut().zip(&ips) {
        *node = harness::Node::new(c.root.path(), node.n, *ip, Some(port));
        node.extra = vec![
            "--peer-dns".into(),
            "meta.test.".into(),
            "--peer-dns-server".into(),
            dns.addr.to_string(),
        ];
    }
    // Ordinal 1 (raft id 2) appears first: with no member answering it must not
    // start a cluster of its own, only keep retrying.
    dns.records.lock().unwrap().push(ips[1]);
    c.node_mut(2).start(&secret);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s = c
        .status(2)
        .await
        .expect("node2 serves status while waiting");
    assert_eq!(
        s["leader"],
        serde_json::Value::Null,
        "node2 elected itself alone: {s}"
    );
    assert_eq!(s["voters"], serde_json::json!([]));

    // Ordinal 0 (raft id 1) initialises; the others join as they appear in DNS.
    dns.records.lock().unwrap().push(ips[0]);
    c.node_mut(1).start(&secret);
    c.wait_stable(&[1, 2], 2, Duration::from_secs(15)).await;
    dns.records.lock().unwrap().push(ips[2]);
    c.node_mut(3).start(&secret);
    c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(15)).await;

    c.append(3, "dns", "from node3").await.unwrap();
    c.append(2, "dns", "from node2").await.unwrap();
    assert_eq!(
        c.codes(1, "dns").await.unwrap(),
        ["from node3", "from node2"]
    );
}
