//! `mcp-v8 --metadata-backend etcd`: session logs kept in a real etcd started on
//! loopback (`make tools` installs Debian's etcd-server; `ETCD_BIN` overrides the path).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::{Server, free_port};

#[tokio::test]
async fn sessions_live_in_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut etcd = Command::new(std::env::var("ETCD_BIN").unwrap_or_else(|_| "etcd".into()))
        .args(["--name", "t", "--data-dir"])
        .arg(dir.path().join("etcd"))
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
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd runs (make tools installs etcd-server)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(format!("{url}/health"))
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "etcd never became healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = Server::start_in(
        dir.path(),
        &["--metadata-backend", "etcd", "--etcd-endpoints", &url],
    )
    .await;
    let (_, first) = s
        .exec(json!({"code": "var k = 1; k", "session": "e"}))
        .await;
    assert_eq!(first["status"], "completed", "{first}");
    let (_, second) = s.exec(json!({"code": "k + 1", "session": "e"})).await;
    assert_eq!(second["result"], "2", "{second}");
    let (_, sessions) = s.get("/meta/sessions").await;
    assert_eq!(sessions, json!(["e"]));
    let (_, entries) = s.get("/meta/sessions/e/entries?fields=index").await;
    assert_eq!(entries, json!([{"index": 0}, {"index": 1}]));
    drop(s);
    // A server with empty local directories (but the same heap store) finds the session
    // in etcd and continues it.
    let other = tempfile::tempdir().unwrap();
    let heaps = dir.path().join("heaps");
    let s = Server::start_with(
        free_port(),
        &[
            "--session-db-path".into(),
            other.path().join("db").display().to_string(),
            "--directory-path".into(),
            heaps.display().to_string(),
            "--metadata-backend".into(),
            "etcd".into(),
            "--etcd-endpoints".into(),
            url.clone(),
        ],
    )
    .await;
    let (_, third) = s.exec(json!({"code": "k + 2", "session": "e"})).await;
    assert_eq!(third["result"], "3", "{third}");
    drop(s);
    let _ = etcd.kill();
    let _ = etcd.wait();
}
