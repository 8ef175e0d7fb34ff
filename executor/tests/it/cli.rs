//! The `mcp-v8` binary as a user runs it.

use std::process::Command;

fn mcp_v8(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
        .args(args)
        .output()
        .expect("mcp-v8 runs");
    let record = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        record,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exec_chains_a_session_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let heaps = dir.path().to_str().unwrap();
    let (code, first, _) = mcp_v8(&[
        "--directory-path",
        heaps,
        "exec",
        "var n: number = 20; console.log('set'); n",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        (first["status"].as_str(), first["result"].as_str()),
        (Some("completed"), Some("20"))
    );
    assert_eq!(first["output"], "set\n");
    let heap = first["heap"].as_str().expect("a heap id");
    let (code, second, _) = mcp_v8(&[
        "--directory-path",
        heaps,
        "exec",
        "--heap",
        heap,
        "n * 2 + 2",
    ]);
    assert_eq!((code, second["result"].as_str()), (0, Some("42")));
}

#[test]
fn failed_runs_exit_non_zero_with_the_record() {
    let (code, record, _) = mcp_v8(&["--stateless", "exec", "throw new TypeError('bad')"]);
    assert_eq!(code, 1);
    assert_eq!(
        (record["status"].as_str(), record["error"].as_str()),
        (Some("failed"), Some("TypeError: bad"))
    );
}

#[test]
fn conflicting_and_out_of_range_flags_are_refused_by_name() {
    let (code, _, err) = mcp_v8(&["--stateless", "--directory-path", "/tmp/x", "exec", "1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--stateless") && err.contains("--directory-path"),
        "{err}"
    );
    let (code, _, err) = mcp_v8(&["--heap-memory-max", "100", "exec", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("1..=64"), "{err}");
    let (code, _, err) = mcp_v8(&["--stateless", "exec", "--heap-memory-max-mb", "64", "1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("heap_memory_max_mb must be between 4 and 8"),
        "{err}"
    );
}

#[test]
fn without_a_subcommand_it_serves_mcp_on_stdio() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
        .args(["--stateless", "--log", "warn", "--session-db-path"])
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |v: serde_json::Value| writeln!(stdin, "{v}").unwrap();
    send(
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
    );
    let init: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(init["result"]["serverInfo"]["name"], "mcp-v8", "{init}");
    send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "run_js", "arguments": {"code": "6 * 7", "wait_ms": 10000}}}),
    );
    let call: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        call["result"]["structuredContent"]["result"], "42",
        "{call}"
    );
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "exits cleanly when stdin closes"
    );
}
