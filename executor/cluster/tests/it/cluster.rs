//! Real multi-process clusters of `mcp-v8-meta` on 127.0.x.y: replication, leader
//! failure under writes, catch-up after disk loss, scaling 3→5→3 under writes, a
//! partitioned minority, and authentication of the cluster port.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{self, Cluster, SECRET, assert_all_acked, writer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_writes_from_any_node_and_refuse_strangers() {
    let _g = harness::serial().await;
    let mut c = Cluster::new(31, 3);
    c.start_static();
    let leader = c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(15)).await;
    for n in 1..=3u32 {
        for k in 0..3 {
            c.append(n, "shared", &format!("n{n}-{k}")).await.unwrap();
        }
        let heap = format!("{:064x}", n);
        let r = c
            .http
            .put(c.node(n).url(&format!("/meta/tags/{heap}")))
            .json(&json!({"by": format!("node{n}"), "kind": "t"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    // Linearizable reads: every node sees all nine entries and all tags at once.
    for n in 1..=3u32 {
        let codes = c.codes(n, "shared").await.unwrap();
        assert_eq!(codes.len(), 9, "node{n}: {codes:?}");
        assert_eq!(&codes[..3], ["n1-0", "n1-1", "n1-2"]);
        let sessions: Vec<String> = c
            .http
            .get(c.node(n).url("/meta/sessions"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(sessions, ["shared"]);
        let heaps: Vec<String> = c
            .http
            .post(c.node(n).url("/meta/tags/query"))
            .json(&json!({"kind": "t"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(heaps.len(), 3, "node{n}: {heaps:?}");
        let tags: serde_json::Value = c
            .http
            .get(c.node(n).url(&format!("/meta/tags/{:064x}", 2)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(tags, json!({"by": "node2", "kind": "t"}));
        let status = c.status(n).await.unwrap();
        assert_eq!(status["node_id"], format!("node{n}"));
        assert_eq!(status["leader"], leader);
        assert_eq!(status["voters"], json!([1, 2, 3]));
        assert!(status["term"].as_u64().unwrap() >= 1);
    }
    // Deleting tags on a follower is seen on the leader.
    let follower = (1..=3u32).find(|n| u64::from(*n) != leader).unwrap();
    let r = c
        .http
        .delete(
            c.node(follower)
                .url(&format!("/meta/tags/{:064x}?keys=by", 1)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let tags: serde_json::Value = c
        .http
        .get(c.node(leader as u32).url(&format!("/meta/tags/{:064x}", 1)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags, json!({"kind": "t"}));
    // Bad input is a JSON 400 on every node.
    let r = c
        .http
        .get(c.node(follower).url("/meta/tags/..%2F..%2Fetc%2Fpasswd"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<serde_json::Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("64 lowercase hex")
    );

    // The cluster port refuses calls without the secret, or with a wrong one.
    let port = c.node(1).cluster_addr();
    for path in [
        "/raft/vote",
        "/raft/append",
        "/raft/snapshot",
        "/raft/join",
        "/raft/write",
    ] {
        let r = c
            .http
            .post(format!("http://{port}{path}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} without a secret");
        let r = c
            .http
            .post(format!("http://{port}{path}"))
            .bearer_auth("wrong")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong secret");
    }
    let r = c
        .http
        .get(format!("http://{port}/raft/info"))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .http
        .post(c.node(1).url("/cluster/remove/node3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "remove needs the secret");
    assert_eq!(c.status(1).await.unwrap()["voters"], json!([1, 2, 3]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_under_writes_loses_no_acknowledged_entry() {
    let _g = harness::serial().await;
    let mut c = Cluster::new(32, 3);
    c.start_static();
    let leader = c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(15)).await as u32;
    let urls: Vec<String> = (1..=3)
        .map(|n| c.node(n).url("/meta/sessions/load/entries"))
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let w = tokio::spawn(writer(c.http.clone(), urls, stop_rx));
    tokio::time::sleep(Duration::from_millis(800)).await;

    c.node_mut(leader).kill9();
    let killed_at = Instant::now();
    let survivors: Vec<u32> = (1..=3).filter(|n| *n != leader).collect();
    let new_leader = c.wait_stable(&survivors, 3, Duration::from_secs(5)).await as u32;
    let elected_in = killed_at.elapsed();
    assert_ne!(new_leader, leader);
    assert!(
        elected_in < Duration::from_secs(2),
        "new leader took {elected_in:?}"
    );

    tokio::time::sleep(Duration::from_millis(800)).await;
    stop_tx.send(true).unwrap();
    let acked = w.await.unwrap();
    assert!(
        acked.len() > 20,
        "too few writes acknowledged: {}",
        acked.len()
    );
    let after_kill = acked.iter().filter(|(i, _)| *i > 0).count();
    assert!(after_kill > 0);
    for n in &survivors {
        let codes = c.codes(*n, "load").await.unwrap();
        assert_all_acked(&codes, &acked, &format!("node{n}"));
    }
    let secret = c.secret_file.clone();
    c.node_mut(leader).start(&secret);
    let max = acked.iter().map(|(i, _)| *i).max().unwrap() as usize + 1;
    let codes = c
        .wait_codes(leader, "load", max, Duration::from_secs(15))
        .await;
    assert_all_acked(&codes, &acked, "restarted node");
    c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_restarted_with_an_empty_disk_catches_up() {
    let _g = harness::serial().await;
    let mut c = Cluster::new(33, 3);
    c.start_static();
    let leader = c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(15)).await as u32;
    let follower = (1..=3).find(|n| *n != leader).unwrap();
    for k in 0..80 {
        c.append(leader, "s", &format!("a{k}")).await.unwrap();
    }
    c.node_mut(follower).kill9();
    std::fs::remove_dir_all(&c.node(follower).dir).unwrap();
    // Enough writes while it is gone that the leader compacts past them (snapshot every 50).
    for k in 0..80 {
        c.append(leader, "s", &format!("b{k}")).await.unwrap();
    }
    let secret = c.secret_file.clone();
    c.node_mut(follower).start(&secret);
    let codes = c
        .wait_codes(follower, "s", 160, Duration::from_secs(20))
        .await;
    assert_eq!(codes.len(), 160);
    assert_eq!(codes[0], "a0");
    assert_eq!(codes[159], "b79");
    c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(10)).await;
    assert!(
        c.node(follower)
            .dir
            .join("raft")
            .join("raft-snapshot.json")
            .exists(),
        "caught up without a snapshot?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_three_to_five_to_three_under_writes_loses_nothing() {
    let _g = harness::serial().await;
    let mut c = Cluster::new(34, 5);
    let peers: Vec<String> = c.nodes[..3]
        .iter()
        .map(|n| format!("node{}@{}", n.n, n.cluster_addr()))
        .collect();
    let secret = c.secret_file.clone();
    for n in &mut c.nodes[..3] {
        n.extra = vec!["--peers".into(), peers.join(",")];
        n.start(&secret);
    }
    c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(15)).await;
    let urls: Vec<String> = (1..=3)
        .map(|n| c.node(n).url("/meta/sessions/scale/entries"))
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let w = tokio::spawn(writer(c.http.clone(), urls, stop_rx));

    let seed = c.node(1).cluster_addr();
    for n in [4u32, 5] {
        let node = c.node_mut(n);
        node.extra = vec!["--join".into(), seed.clone()];
        node.start(&secret);
    }
    c.wait_stable(&[1, 2, 3, 4, 5], 5, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in [5u32, 4] {
        let r = c
            .http
            .post(c.node(1).url(&format!("/cluster/remove/node{n}")))
            .bearer_auth(SECRET)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            204,
            "remove node{n}: {}",
            r.text().await.unwrap_or_default()
        );
        c.node_mut(n).kill9();
    }
    let leader = c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(10)).await;
    assert!(leader <= 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(true).unwrap();
    let acked = w.await.unwrap();
    assert!(
        acked.len() > 20,
        "too few writes acknowledged: {}",
        acked.len()
    );
    for n in 1..=3u32 {
        assert_all_acked(
            &c.codes(n, "scale").await.unwrap(),
            &acked,
            &format!("node{n}"),
        );
        assert_eq!(c.status(n).await.unwrap()["voters"], json!([1, 2, 3]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_minority_cannot_commit() {
    let _g = harness::serial().await;
    let mut c = Cluster::new(35, 3);
    c.start_static();
    let leader = c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(15)).await as u32;
    c.append(leader, "p", "before").await.unwrap();
    let others: Vec<u32> = (1..=3).filter(|n| *n != leader).collect();
    // Freeze the majority: the old leader is now alone.
    for n in &others {
        c.node(*n).signal("-STOP");
    }
    let started = Instant::now();
    let r = c.append(leader, "p", "minority").await;
    assert!(r.is_err(), "a lone node committed a write: {r:?}");
    let err = r.unwrap_err();
    assert!(err.starts_with("504") || err.starts_with("503"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(12));
    for n in &others {
        c.node(*n).signal("-CONT");
    }
    c.wait_stable(&[1, 2, 3], 3, Duration::from_secs(10)).await;
    let i = c.append(others[0], "p", "after").await.unwrap();
    assert!(i >= 1);
    let codes = c.codes(leader, "p").await.unwrap();
    assert_eq!(codes.first().map(String::as_str), Some("before"));
    assert_eq!(codes.last().map(String::as_str), Some("after"));
}
