//! The plain HTTP API of a real `mcp-v8 --http-port` process: records, statuses and
//! error codes of the interface contract, output paging while a run goes, cancel,
//! busy, and records surviving a crash.

use std::time::Duration;

use serde_json::json;

use crate::server::{Server, slow_printer};

#[tokio::test]
async fn exec_returns_the_record_with_output_and_sessions_continue() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[]).await;
    let (status, r) = s
        .exec(json!({"code": "console.log('hi'); var n = 41; n + 1", "session": "s"}))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (r["status"].as_str(), r["result"].as_str()),
        (Some("completed"), Some("42"))
    );
    assert_eq!(r["output"], "hi\n");
    assert_eq!(r["heap"].as_str().map(str::len), Some(64));
    assert!(r["started_at"].as_str().unwrap().ends_with('Z'));
    let (_, r2) = s.exec(json!({"code": "n += 1; n", "session": "s"})).await;
    assert_eq!(r2["result"], "42", "{r2}");
    let (_, r3) = s.exec(json!({"code": "n", "heap": r["heap"]})).await;
    assert_eq!(r3["result"], "41", "chaining an explicit heap: {r3}");
    let (_, entries) = s
        .get("/meta/sessions/s/entries?fields=index,output_heap")
        .await;
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");
    let (_, failed) = s.exec(json!({"code": "throw new TypeError('nope')"})).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "TypeError: nope");
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", s.base))
        .header("host", "10.1.2.3:8080")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "mcpv8_executions_total{mode=\"stateful\",status=\"completed\"} 3",
        "mcpv8_executions_total{mode=\"stateful\",status=\"failed\"} 1",
        "mcpv8_http_requests_total{route=\"/api/exec\",status=\"200\"} 4",
        "mcpv8_execution_duration_seconds_count{mode=\"stateful\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn bad_input_gets_the_contract_codes_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--max-request-body", "64KiB"]).await;
    let client = reqwest::Client::new();
    let raw = |body: &'static str| {
        client
            .post(format!("{}/api/exec", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_eq!(raw("{not json").await.unwrap().status(), 400);
    assert_eq!(raw(r#"{"code": 1}"#).await.unwrap().status(), 400);
    assert_eq!(
        raw(r#"{"code": "1", "nope": true}"#)
            .await
            .unwrap()
            .status(),
        400
    );
    let (status, r) = s
        .exec(json!({"code": "1", "heap": "../../etc/passwd"}))
        .await;
    assert_eq!(status, 400);
    assert!(
        r["error"].as_str().unwrap().contains("64 lowercase hex"),
        "{r}"
    );
    let (status, r) = s.exec(json!({"code": "1", "heap": "a".repeat(64)})).await;
    assert_eq!(status, 404, "{r}");
    let (status, r) = s
        .exec(json!({"code": "1", "heap_memory_max_mb": 9999}))
        .await;
    assert_eq!(status, 400);
    assert!(
        r["error"].as_str().unwrap().contains("between 4 and 8"),
        "{r}"
    );
    let (status, _) = s
        .exec(json!({"code": "1", "execution_timeout_secs": 0}))
        .await;
    assert_eq!(status, 400);
    let big = json!({ "code": format!("'{}'", "x".repeat(100 << 10)) });
    let (status, _) = s.exec(big).await;
    assert_eq!(status, 413);
    let r = client
        .get(format!("{}/api/executions", s.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client
        .post(format!("{}/api/exec", s.base))
        .header("origin", "https://evil.example")
        .json(&json!({"code": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (status, r) = s.get("/api/executions/..%2F..%2Fetc").await;
    assert_eq!(status, 400, "{r}");
    let (status, _) = s
        .get("/api/executions/node1.0.00000000000000000000000000000000")
        .await;
    assert_eq!(status, 404);
    let (_, list) = s.get("/api/executions").await;
    assert_eq!(
        list["executions"].as_array().unwrap().len(),
        0,
        "refused runs leave no record"
    );
    let (status, r) = s.exec(json!({"code": "2 + 2"})).await;
    assert_eq!(
        (status, r["result"].as_str()),
        (200, Some("4")),
        "server still serves"
    );
}

#[tokio::test]
async fn output_pages_while_running_and_cancel_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &[]).await;
    let id = s.start_async(&slow_printer(200, 20)).await;
    let mut seen = String::new();
    let mut offset = 0;
    while seen.lines().count() < 10 {
        let (status, page) = s
            .get(&format!(
                "/api/executions/{id}/output?line_offset={offset}&line_limit=3"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        seen.push_str(page["data"].as_str().unwrap());
        offset = page["next_line_offset"].as_u64().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected: String = (0..seen.lines().count())
        .map(|i| format!("line {i}\n"))
        .collect();
    assert_eq!(seen, expected, "line pages join into the output");
    let (_, running) = s.get(&format!("/api/executions/{id}")).await;
    assert_eq!(running["status"], "running");
    let (status, r) = s
        .post(&format!("/api/executions/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(r["status"], "cancelled", "{r}");
    let (_, page) = s
        .get(&format!(
            "/api/executions/{id}/output?byte_offset=0&byte_limit=7"
        ))
        .await;
    assert_eq!(
        (page["data"].as_str(), page["next_byte_offset"].as_u64()),
        (Some("line 0\n"), Some(7))
    );
    let (_, list) = s.get("/api/executions?status=cancelled").await;
    assert_eq!(list["executions"][0]["execution_id"], id.as_str());
    let (status, _) = s
        .get(&format!(
            "/api/executions/{id}/output?line_offset=1&byte_offset=1"
        ))
        .await;
    assert_eq!(status, 400, "one paging mode at a time");
}

#[tokio::test]
async fn a_full_queue_is_busy_429() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        dir.path(),
        &[
            "--stateless",
            "--max-concurrent-executions",
            "1",
            "--max-queued-executions",
            "1",
        ],
    )
    .await;
    let a = s.start_async(&slow_printer(30, 50)).await;
    // Wait until `a` holds the only worker, so the queue's one place is free for `b`.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s.get(&format!("/api/executions/{a}")).await.1["status"] != "running" {
        assert!(std::time::Instant::now() < deadline, "run a never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = s.start_async(&slow_printer(1, 1)).await;
    let (status, r) = s.post("/api/exec?async=true", json!({"code": "1"})).await;
    assert_eq!(status, 429, "{r}");
    assert!(r["error"].as_str().unwrap().contains("busy"), "{r}");
    let (_, queued) = s.get(&format!("/api/executions/{b}")).await;
    assert_eq!(queued["status"], "queued");
    s.post(&format!("/api/executions/{a}/cancel"), json!({}))
        .await;
    assert_eq!(s.wait_done(&b).await["status"], "completed");
}

#[tokio::test]
async fn records_survive_a_crash_and_runs_in_flight_come_back_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]).await;
    let (_, done) = s.exec(json!({"code": "console.log('kept'); 7"})).await;
    let done_id = done["execution_id"].as_str().unwrap().to_owned();
    let flying = s.start_async(&slow_printer(100, 50)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.kill();
    let s = Server::start_in(dir.path(), &[]).await;
    let again = s.wait_done(&done_id).await;
    assert_eq!(
        (again["status"].as_str(), again["result"].as_str()),
        (Some("completed"), Some("7"))
    );
    let (_, out) = s.get(&format!("/api/executions/{done_id}/output")).await;
    assert_eq!(out["data"], "kept\n");
    let lost = s.wait_done(&flying).await;
    assert_eq!(lost["status"], "failed", "{lost}");
    assert!(
        lost["error"].as_str().unwrap().contains("server stopped"),
        "{lost}"
    );
    let (_, out) = s.get(&format!("/api/executions/{flying}/output")).await;
    assert!(
        out["total_lines"].as_u64().unwrap() >= 1,
        "output written before the crash is kept: {out}"
    );
}

#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &["--stateless"]).await;
    let url = format!("{}/api/exec", s.base);
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"code": "await new Promise(r => setTimeout(r, 1500)); 'finished'"}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.terminate();
    let r = pending.await.unwrap();
    assert_eq!(
        (r["status"].as_str(), r["result"].as_str()),
        (Some("completed"), Some("finished")),
        "{r}"
    );
    assert!(s.wait_exit().success(), "exits cleanly once drained");
}
