//! fetch() through the real server: decided by OPA (a real Rego evaluation on
//! loopback) per hop, headers injected for matching hosts and never revealed,
//! metadata addresses refused, limits enforced.

use serde_json::{Value, json};

use crate::io_servers::{FETCH_POLICY, opa, target};
use crate::server::Server;

const SECRET: &str = "s3cr3t-token-value";
const FILE_SECRET: &str = "file-secret-value";

async fn exec(s: &Server, code: &str) -> Value {
    let (status, r) = s.exec(json!({ "code": code })).await;
    assert_eq!(status, 200, "{r}");
    r
}

fn assert_no_secret(v: &Value) {
    let text = v.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains(FILE_SECRET),
        "a secret leaked: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_is_policy_gated_with_injected_headers() {
    let (opa_url, decisions) = opa(FETCH_POLICY).await;
    let (t, seen) = target().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{FILE_SECRET}\n")).unwrap();
    let config = dir.path().join("headers.json");
    std::fs::write(
        &config,
        json!({"rules": [{"host": "*.0.0.1", "methods": ["POST"], "headers": {"X-Api-Key": {"value_file": "token"}}}]}).to_string(),
    )
    .unwrap();
    let rule = format!("host=127.0.0.1,header=Authorization,value=Bearer {SECRET},methods=GET");
    let config = config.display().to_string();
    let s = Server::start_in(
        dir.path(),
        &[
            "--stateless",
            "--opa-url",
            &opa_url,
            "--fetch-header",
            &rule,
            "--fetch-header-config",
            &config,
        ],
    )
    .await;

    // An allowed GET: the response API, and the injected header reached the target.
    let r = exec(&s, &format!(r#"const r = await fetch("{t}/public/hello");
const text = await r.text();
console.log(r.headers.get("x-served-by"));
[r.ok, r.status, r.statusText, r.url, r.redirected, r.type, r.bodyUsed, text, r.headers.has("X-SERVED-BY")]"#)).await;
    assert_eq!(
        r["result"],
        json!([
            true,
            200,
            "OK",
            format!("{t}/public/hello"),
            false,
            "basic",
            true,
            "hello from target",
            true
        ])
        .to_string(),
        "{r}"
    );
    assert_eq!(r["output"], "target\n");
    let got = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(got.headers["authorization"], format!("Bearer {SECRET}"));
    // OPA saw the request, lower-cased headers, and never the injected secret.
    let input = decisions.lock().unwrap().last().cloned().unwrap();
    assert_eq!(input["operation"], "fetch");
    assert_eq!(input["url_parsed"]["host"], "127.0.0.1");
    assert_eq!(input["url_parsed"]["path"], "/public/hello");
    assert_no_secret(&json!(decisions.lock().unwrap().clone()));

    // Headers the code sets win over injected ones; json(), clone(), arrayBuffer().
    let r = exec(
        &s,
        &format!(
            r#"const r = await fetch("{t}/public/json", {{ headers: {{ Authorization: "mine" }} }});
const c = r.clone();
const j = await r.json();
const n = (await c.arrayBuffer()).byteLength;
[j.items.length, n, [...r.headers.keys()].includes("content-type")]"#
        ),
    )
    .await;
    assert_eq!(r["result"], "[3,17,true]", "{r}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().headers["authorization"],
        "mine"
    );

    // POST with a JSON body: the file-backed header applies to POST only.
    let r = exec(&s, &format!(r#"const r = await fetch("{t}/public/echo", {{ method: "POST", headers: {{ "content-type": "application/json" }}, body: JSON.stringify({{ a: 1 }}) }});
(await r.json()).a"#)).await;
    assert_eq!(r["result"], "1", "{r}");
    let got = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (got.method.as_str(), &got.headers["x-api-key"]),
        ("POST", &FILE_SECRET.parse().unwrap())
    );
    assert!(
        !got.headers.contains_key("authorization"),
        "the GET-only rule stays off POSTs"
    );
    assert_eq!(got.body, br#"{"a":1}"#);

    // Redirects: followed when each hop is allowed, refused when one is not.
    let r = exec(
        &s,
        &format!(
            r#"const r = await fetch("{t}/public/redirect"); [r.redirected, r.url, await r.text()]"#
        ),
    )
    .await;
    assert_eq!(
        r["result"],
        json!([true, format!("{t}/public/hello"), "hello from target"]).to_string(),
        "{r}"
    );
    let before = seen.lock().unwrap().len();
    let r = exec(
        &s,
        &format!(r#"await fetch("{t}/public/redirect-private")"#),
    )
    .await;
    assert_eq!(r["status"], "failed");
    let err = r["error"].as_str().unwrap();
    assert!(
        err.starts_with("TypeError: fetch to ") && err.contains("/private/secret denied"),
        "{err}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        before + 1,
        "the denied hop was never requested"
    );

    // Denied by policy, a denial that the code catches, and a binary body.
    let r = exec(
        &s,
        &format!(r#"await fetch("{t}/private/x").then(() => "sent", e => e.message)"#),
    )
    .await;
    assert!(
        r["result"]
            .as_str()
            .unwrap()
            .contains("denied: the policy does not allow it"),
        "{r}"
    );
    let r = exec(&s, &format!(r#"const b = new Uint8Array(await (await fetch("{t}/public/binary")).arrayBuffer()); [b.length, b[0], b[255]]"#)).await;
    assert_eq!(r["result"], "[256,0,255]");
    let r = exec(
        &s,
        &format!(
            r#"const r = await fetch("{t}/public/status/404"); [r.ok, r.status, r.statusText]"#
        ),
    )
    .await;
    assert_eq!(r["result"], r#"[false,404,"Not Found"]"#);
    // Nothing anywhere ever showed a secret.
    for e in s.get("/api/executions?limit=100").await.1["executions"]
        .as_array()
        .unwrap()
    {
        assert_no_secret(e);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_addresses_limits_and_bad_requests_are_refused() {
    // A policy that allows everything: the address guard must still hold.
    let (opa_url, _) = opa("package mcp.fetch\nallow := true\n").await;
    let (t, seen) = target().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(
        dir.path(),
        &[
            "--stateless",
            "--opa-url",
            &opa_url,
            "--fetch-timeout-secs",
            "1",
            "--fetch-max-response-bytes",
            "1KiB",
        ],
    )
    .await;
    for (code, expect) in [
        (
            "await fetch('http://169.254.169.254/latest/meta-data/')",
            "link-local",
        ),
        ("await fetch('http://[fd00:ec2::254]/')", "metadata"),
        (
            "await fetch('http://[::ffff:169.254.169.254]/')",
            "link-local",
        ),
        ("await fetch('file:///etc/passwd')", "only http and https"),
        ("await fetch('not a url')", "not a valid URL"),
        (
            "await fetch('http://127.0.0.1:1/', { method: 'GET', body: 'x' })",
            "cannot have a body",
        ),
    ] {
        let r = exec(&s, code).await;
        assert_eq!(r["status"], "failed", "{code}: {r}");
        assert!(r["error"].as_str().unwrap().contains(expect), "{code}: {r}");
    }
    let r = exec(&s, &format!("await fetch('{t}/public/big')")).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("larger than 1024 bytes"),
        "{r}"
    );
    let r = exec(&s, &format!("await fetch('{t}/public/slow')")).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1000 ms"),
        "{r}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|r| r.path.starts_with("/public/"))
    );
    let r = exec(&s, "typeof fetch + typeof Headers + typeof Response").await;
    assert_eq!(r["result"], "functionfunctionfunction");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_opa_there_is_no_fetch_and_opa_down_denies() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_in(dir.path(), &["--stateless"]).await;
    let r = exec(&s, "[typeof fetch, typeof Headers, typeof fs].join()").await;
    assert_eq!(r["result"], "undefined,undefined,undefined");
    drop(s);
    let (t, seen) = target().await;
    let down = format!("http://127.0.0.1:{}", crate::server::free_port());
    let s = Server::start_in(dir.path(), &["--stateless", "--opa-url", &down]).await;
    let r = exec(&s, &format!("await fetch('{t}/public/hello')")).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("policy service is unreachable"),
        "{r}"
    );
    assert!(seen.lock().unwrap().is_empty(), "fail closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_flags_are_checked_at_startup() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
        .args(["--fetch-header", "host=a,header=h,value=v"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--opa-url"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
        .args([
            "--opa-url",
            "http://127.0.0.1:1",
            "--fetch-header",
            "host=a:80,header=h,value=v",
            "exec",
            "1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be a host name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
