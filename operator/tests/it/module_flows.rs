//! WasmModule reconcile flows: bytes from a ConfigMap and from a URL on loopback are
//! verified and their exports listed; a wrong digest, a missing source, a failed download
//! and garbage bytes each give a Ready=False condition with a clear reason and an Event.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::fixtures::*;

/// `(module (func (export "add") (param i32 i32) (result i32) …) (memory (export "mem") 1))`
pub const ADD_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01,
    0x7f, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x0d, 0x02, 0x03, b'a', b'd',
    b'd', 0x00, 0x00, 0x03, b'm', b'e', b'm', 0x02, 0x00, 0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00,
    0x20, 0x01, 0x6a, 0x0b,
];

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn b64(bytes: &[u8]) -> String {
    // The fixture's encoder works on &str; module bytes are not UTF-8, so encode here.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn put_module(h: &Harness, name: &str, source: &Value) {
    h.api.put(
        MODULES,
        json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "WasmModule",
               "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
               "spec": {"globalName": "calc", "source": source}}),
    );
}

/// The module's Ready condition (shared with the S3 module tests).
pub fn ready(h: &Harness, name: &str) -> Value {
    let m = h.api.get(MODULES, name).unwrap();
    m["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone()
}

#[tokio::test]
async fn configmap_module_is_verified_with_exports() {
    let h = harness().await;
    h.api.put(
        CONFIGMAPS,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "calc-bytes", "namespace": NS},
               "binaryData": {"calc.wasm": b64(ADD_WASM)}}),
    );
    put_module(
        &h,
        "calc",
        &json!({"configMap": {"name": "calc-bytes", "key": "calc.wasm", "sha256": sha(ADD_WASM)}}),
    );
    h.reconcile_module("calc").await.unwrap();
    let status = h.api.get(MODULES, "calc").unwrap()["status"].clone();
    assert_eq!(status["sha256"], sha(ADD_WASM));
    assert_eq!(status["size"], ADD_WASM.len());
    assert_eq!(status["exports"], json!(["add (func)", "mem (memory)"]));
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(ready(&h, "calc")["status"], "True");
    assert!(h.api.event_reasons().contains(&"Verified".to_string()));
}

#[tokio::test]
async fn url_module_is_downloaded_and_checked() {
    let h = harness().await;
    h.admin
        .state
        .lock()
        .unwrap()
        .files
        .push(("calc.wasm".into(), ADD_WASM.to_vec()));
    let url = format!("{}/files/calc.wasm", h.admin.url);
    put_module(
        &h,
        "good",
        &json!({"url": {"url": url, "sha256": sha(ADD_WASM)}}),
    );
    h.reconcile_module("good").await.unwrap();
    assert_eq!(ready(&h, "good")["status"], "True");

    put_module(
        &h,
        "tampered",
        &json!({"url": {"url": url, "sha256": "0".repeat(64)}}),
    );
    h.reconcile_module("tampered").await.unwrap();
    let cond = ready(&h, "tampered");
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "DigestMismatch");
    assert!(
        cond["message"].as_str().unwrap().contains(&sha(ADD_WASM)),
        "{cond}"
    );
    assert!(
        h.api.get(MODULES, "tampered").unwrap()["status"]["sha256"].is_null(),
        "no digest for a bad module"
    );

    put_module(
        &h,
        "gone",
        &json!({"url": {"url": format!("{}/files/missing.wasm", h.admin.url), "sha256": sha(ADD_WASM)}}),
    );
    h.reconcile_module("gone").await.unwrap();
    assert_eq!(ready(&h, "gone")["reason"], "DownloadFailed");
    assert!(
        h.api
            .event_reasons()
            .contains(&"DigestMismatch".to_string())
    );
}

#[tokio::test]
async fn missing_sources_and_garbage_are_reported() {
    let h = harness().await;
    put_module(
        &h,
        "nosrc",
        &json!({"secret": {"name": "absent", "key": "m.wasm"}}),
    );
    h.reconcile_module("nosrc").await.unwrap();
    let cond = ready(&h, "nosrc");
    assert_eq!(cond["reason"], "SourceMissing");
    assert!(
        cond["message"]
            .as_str()
            .unwrap()
            .contains("Secret absent has no key `m.wasm`"),
        "{cond}"
    );

    h.api.put(
        SECRETS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "junk", "namespace": NS},
               "data": {"m.wasm": b64(b"definitely not wasm")}}),
    );
    put_module(
        &h,
        "junk",
        &json!({"secret": {"name": "junk", "key": "m.wasm"}}),
    );
    h.reconcile_module("junk").await.unwrap();
    assert_eq!(ready(&h, "junk")["reason"], "InvalidModule");
}
