//! WasmModules in a private bucket of a real S3-compatible server (moto, with signature
//! checking on): fetched with a SigV4-signed GET and verified with the right credentials,
//! refused clearly with wrong ones or without the Secret, and rolled out to a cluster with
//! the credentials mounted as files next to the module's entry in the wasm config.

use serde_json::{Value, json};

use super::fixtures::*;
use super::module_flows::{ADD_WASM, ready, sha};
use super::moto::Moto;
use mcp_v8_sigv4::testing::send;

fn put_s3_module(h: &Harness, name: &str, endpoint: &str, secret: &str) {
    h.api.put(
        MODULES,
        json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "WasmModule",
               "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1, "labels": {"pack": "s3"}},
               "spec": {"globalName": name, "source": {"s3": {
                   "endpoint": endpoint, "region": "us-east-1", "bucket": "private-mods", "key": "lib/add v1.wasm",
                   "sha256": sha(ADD_WASM), "credentialsSecret": {"name": secret}}}}}),
    );
}

fn put_credentials(h: &Harness, name: &str, id: &str, key: &str) {
    h.api.put(
        SECRETS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
               "data": {"AWS_ACCESS_KEY_ID": base64(id), "AWS_SECRET_ACCESS_KEY": base64(key)}}),
    );
}

#[tokio::test]
async fn private_s3_modules_are_fetched_signed_and_refused_with_bad_credentials() {
    let moto = Moto::start();
    let creds = moto.user_credentials().await;
    let (status, body) = send(
        &moto.endpoint,
        "PUT",
        "/private-mods",
        "s3",
        &creds,
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200, "create bucket: {body}");
    let (status, body) = send(
        &moto.endpoint,
        "PUT",
        "/private-mods/lib/add%20v1.wasm",
        "s3",
        &creds,
        ADD_WASM.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "put object: {body}");
    // Anonymous reads are refused: the bucket really is private.
    let anonymous = reqwest::get(format!("{}/private-mods/lib/add%20v1.wasm", moto.endpoint))
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 403);

    let h = harness().await;
    put_credentials(
        &h,
        "s3-good",
        &creds.access_key_id,
        &creds.secret_access_key,
    );
    put_s3_module(&h, "good", &moto.endpoint, "s3-good");
    h.reconcile_module("good").await.unwrap();
    let cond = ready(&h, "good");
    assert_eq!(cond["status"], "True", "{cond}");
    let status = h.api.get(MODULES, "good").unwrap()["status"].clone();
    assert_eq!(status["sha256"], sha(ADD_WASM));
    assert_eq!(status["exports"], json!(["add (func)", "mem (memory)"]));

    put_credentials(&h, "s3-bad", &creds.access_key_id, "not-the-secret-key");
    put_s3_module(&h, "wrongkey", &moto.endpoint, "s3-bad");
    h.reconcile_module("wrongkey").await.unwrap();
    let cond = ready(&h, "wrongkey");
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "AccessDenied");
    let message = cond["message"].as_str().unwrap();
    assert!(message.contains("SignatureDoesNotMatch"), "{message}");
    assert!(!message.contains("not-the-secret-key"), "{message}");

    put_s3_module(&h, "nosecret", &moto.endpoint, "s3-absent");
    h.reconcile_module("nosecret").await.unwrap();
    let cond = ready(&h, "nosecret");
    assert_eq!(cond["reason"], "SourceMissing");
    assert!(
        cond["message"]
            .as_str()
            .unwrap()
            .contains("Secret s3-absent has no key `AWS_ACCESS_KEY_ID`"),
        "{cond}"
    );

    // A cluster selecting the verified module gets its signed entry and mounted credentials.
    h.api
        .edit(MODULES, "wrongkey", |m| m["metadata"]["labels"] = json!({}));
    h.api
        .edit(MODULES, "nosecret", |m| m["metadata"]["labels"] = json!({}));
    let mut spec = stateless();
    spec["wasmModules"] = json!({"matchLabels": {"pack": "s3"}});
    h.create_cluster("signed", &spec);
    h.reconcile_applied("signed").await.unwrap();
    let cm = h.api.get(CONFIGMAPS, "signed-config").unwrap();
    let config: Value =
        serde_json::from_str(cm["data"]["wasm-config.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        config["good"],
        json!({"url": format!("{}/private-mods/lib/add%20v1.wasm", moto.endpoint), "sha256": sha(ADD_WASM),
               "s3": {"region": "us-east-1",
                      "access_key_id_file": "/etc/mcp-v8/wasm/good/access-key-id",
                      "secret_access_key_file": "/etc/mcp-v8/wasm/good/secret-access-key"}})
    );
    let cm_text = cm.to_string();
    assert!(
        !cm_text.contains(&creds.secret_access_key),
        "no secret in the ConfigMap"
    );
    let pod = &h.statefulset("signed")["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == "s3-good")
        .expect("credentials volume");
    assert_eq!(
        volume["secret"]["items"],
        json!([{"key": "AWS_ACCESS_KEY_ID", "path": "access-key-id"}, {"key": "AWS_SECRET_ACCESS_KEY", "path": "secret-access-key"}])
    );
}
