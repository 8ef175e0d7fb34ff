//! Bearer-token authentication (`--auth-tokens-file`) on a real server: 401s, one
//! principal never sees another's sessions, executions or tags, probes stay open, and
//! a rotated tokens file takes effect without a restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::Server;

const ALICE: &str = "alice-token-0123456789";
const BOB: &str = "bob-token-0123456789ab";

async fn call(
    s: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = s.request(token, method, path, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn principals_are_isolated_and_tokens_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.json");
    std::fs::write(&tokens, json!({ ALICE: "alice", BOB: "bob" }).to_string()).unwrap();
    let s = Server::start_in(
        dir.path(),
        &["--auth-tokens-file", tokens.to_str().unwrap()],
    )
    .await;

    let (status, r) = call(&s, None, "POST", "/api/exec", json!({"code": "1"})).await;
    assert_eq!(status, 401, "{r}");
    let (status, _) = call(
        &s,
        Some("wrong-token-0123456789"),
        "POST",
        "/api/exec",
        json!({"code": "1"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(&s, None, "GET", "/healthz", Value::Null).await;
    assert_eq!(status, 200, "probes stay open");

    let (status, run) = call(
        &s,
        Some(ALICE),
        "POST",
        "/api/exec",
        json!({"code": "var secret = 7; secret", "session": "a1"}),
    )
    .await;
    assert_eq!((status, run["result"].as_str()), (200, Some("7")), "{run}");
    let id = run["execution_id"].as_str().unwrap();
    let (status, _) = call(
        &s,
        Some(BOB),
        "GET",
        &format!("/api/executions/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "another principal's execution is not found");
    let (_, list) = call(&s, Some(BOB), "GET", "/api/executions", Value::Null).await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 0);
    let (_, bob_run) = call(
        &s,
        Some(BOB),
        "POST",
        "/api/exec",
        json!({"code": "typeof secret", "session": "a1"}),
    )
    .await;
    assert_eq!(
        bob_run["result"], "undefined",
        "bob's session a1 is his own: {bob_run}"
    );
    let (status, mine) = call(
        &s,
        Some(ALICE),
        "GET",
        &format!("/api/executions/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!((status, mine["status"].as_str()), (200, Some("completed")));

    assert_eq!(mcp_sessions(&s, ALICE).await, json!(["a1"]));
    assert_eq!(mcp_sessions(&s, BOB).await, json!(["a1"]));
    let (_, entries) = call(&s, Some(ALICE), "GET", "/api/executions", Value::Null).await;
    assert_eq!(
        entries["executions"].as_array().unwrap().len(),
        1,
        "alice sees only her run"
    );
    let r = reqwest::Client::new()
        .post(format!("{}/mcp", s.base))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "MCP needs a token too");

    std::fs::write(&tokens, json!({ BOB: "bob" }).to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = call(&s, Some(ALICE), "GET", "/api/executions", Value::Null).await;
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "a removed token keeps working");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = call(&s, Some(BOB), "GET", "/api/executions", Value::Null).await;
    assert_eq!(status, 200, "remaining tokens still work");
}

/// `list_sessions` over Streamable HTTP with `token`.
async fn mcp_sessions(s: &Server, token: &str) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_sessions", "arguments": {}}});
    let text = reqwest::Client::new()
        .post(format!("{}/mcp", s.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .find(|l| l.contains("\"result\""))
        .unwrap_or_else(|| panic!("no result in {text}"));
    let msg: Value = serde_json::from_str(data).unwrap();
    msg["result"]["structuredContent"]["sessions"].clone()
}
