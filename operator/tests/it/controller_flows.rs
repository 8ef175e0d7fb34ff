//! The controllers wired to watches, end to end against the fake API server (which serves
//! watches as long polls): a new cluster is reconciled into its StatefulSet, its selected
//! module is verified by the module controller and rolled out, changing the module rolls
//! the cluster again, and the controllers stop on the shutdown signal.

use std::time::Duration;

use mcp_v8_operator::controller;
use serde_json::{Value, json};

use super::fixtures::*;
use super::module_flows::{ADD_WASM, b64, sha};

/// ADD_WASM with its function exported as `sum` instead of `add`: another valid module.
fn sum_wasm() -> Vec<u8> {
    let mut bytes = ADD_WASM.to_vec();
    let at = bytes
        .windows(3)
        .position(|w| w == b"add")
        .expect("export name present");
    bytes[at..at + 3].copy_from_slice(b"sum");
    bytes
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn rolled_out_digest(h: &Harness) -> Option<String> {
    h.api.get(CLUSTERS, "live").and_then(|c| {
        c["status"]["modules"][0]["sha256"]
            .as_str()
            .map(String::from)
    })
}

#[tokio::test]
async fn module_changes_flow_through_the_controllers_to_the_cluster() {
    let h = harness().await;
    h.api.put(
        CONFIGMAPS,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mods", "namespace": NS},
               "binaryData": {"add.wasm": b64(ADD_WASM), "sum.wasm": b64(&sum_wasm())}}),
    );
    h.api.put(
        MODULES,
        json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "WasmModule",
               "metadata": {"name": "calc", "namespace": NS, "uid": "uid-calc", "generation": 1, "labels": {"pack": "std"}},
               "spec": {"globalName": "calc", "source": {"configMap": {"name": "mods", "key": "add.wasm"}}}}),
    );
    let mut spec = stateless();
    spec["wasmModules"] = json!({"matchLabels": {"pack": "std"}});
    h.create_cluster("live", &spec);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller::run(
        h.client.clone(),
        h.ctx.clone(),
        None,
        async move {
            let _ = stop_rx.await;
        },
    ));

    let first = sha(ADD_WASM);
    eventually("the cluster to roll out the verified module", || {
        rolled_out_digest(&h).as_deref() == Some(first.as_str())
    })
    .await;
    let sts = h.statefulset("live");
    let hash_before =
        sts["spec"]["template"]["metadata"]["annotations"]["mcpv8.dev/config-hash"].clone();
    assert_ne!(hash_before, Value::Null);

    // Point the module at other bytes: the module controller re-verifies, and the cluster
    // controller (through the module watch) rolls the new digest out.
    h.api.edit(MODULES, "calc", |m| {
        m["spec"]["source"]["configMap"]["key"] = json!("sum.wasm");
        m["metadata"]["generation"] = json!(2);
    });
    let second = sha(&sum_wasm());
    eventually("the new module digest to roll out", || {
        rolled_out_digest(&h).as_deref() == Some(second.as_str())
    })
    .await;
    let hash_after = h.statefulset("live")["spec"]["template"]["metadata"]["annotations"]["mcpv8.dev/config-hash"].clone();
    assert_ne!(hash_before, hash_after, "the pods roll with the module");
    let exports = h.api.get(MODULES, "calc").unwrap()["status"]["exports"].clone();
    assert_eq!(exports, json!(["sum (func)", "mem (memory)"]));

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("controllers stop on shutdown")
        .unwrap();
}
