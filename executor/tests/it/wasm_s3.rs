//! Signed S3 module sources (`--wasm-config` entries with an `"s3"` block, as the
//! operator writes them) against a real S3-compatible server: moto on loopback with
//! authentication enforced after the first requests, which create an IAM user allowed
//! s3:*. The credentials reach the executor as files, as the operator mounts them.

use std::path::Path;

use mcp_v8_sigv4::testing::{s3_user, send};
use mcp_v8_store::testing::Moto;
use serde_json::json;

use crate::server::Server;
use crate::wasm::{IMP, sha256, startup_error};

fn config(dir: &Path, url: &str, key_id: &str, secret: &str) -> String {
    std::fs::write(dir.join("key-id"), format!("{key_id}\n")).unwrap();
    std::fs::write(dir.join("secret"), secret).unwrap();
    let file = dir.join("wasm-config.json");
    let entry = json!({ "imp": { "url": url, "sha256": sha256(IMP), "s3": {
        "region": "us-east-1",
        "access_key_id_file": dir.join("key-id"),
        "secret_access_key_file": dir.join("secret"),
    }}});
    std::fs::write(&file, entry.to_string()).unwrap();
    format!("--wasm-config={}", file.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_s3_modules_are_fetched_with_mounted_credentials() {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let endpoint = moto.endpoint();
    let creds = s3_user(&endpoint, "mods").await;
    let (status, body) = send(&endpoint, "PUT", "/mods", "s3", &creds, Vec::new()).await;
    assert_eq!(status, 200, "{body}");
    let path = "/mods/team%20a/imp.wasm";
    let (status, body) = send(&endpoint, "PUT", path, "s3", &creds, IMP.to_vec()).await;
    assert_eq!(status, 200, "{body}");
    let url = format!("{endpoint}{path}");

    let dir = tempfile::tempdir().unwrap();
    let flag = config(
        dir.path(),
        &url,
        &creds.access_key_id,
        &creds.secret_access_key,
    );
    let s = Server::start_in(dir.path(), &["--stateless", &flag]).await;
    let code = "new WebAssembly.Instance(__wasm_imp, { env: { f: (x) => 2 * x } }).exports.run(20)";
    let (status, r) = s.exec(json!({ "code": code })).await;
    assert_eq!((status, r["result"].as_str()), (200, Some("41")), "{r}");
    drop(s);

    // Authentication is enforced: a wrong secret stops startup with S3's reason.
    let flag = config(dir.path(), &url, &creds.access_key_id, "not-the-secret");
    let e = startup_error(dir.path(), &[flag]);
    assert!(
        e.contains("SignatureDoesNotMatch") && e.contains(&url),
        "{e}"
    );
    let e = startup_error(dir.path(), &[config(dir.path(), &url, "AKIANOBODY", "x")]);
    assert!(e.contains("403"), "{e}");
}
