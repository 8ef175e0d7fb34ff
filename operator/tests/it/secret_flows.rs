//! Secret values roll the pods: the config hash on the pod template covers the values of
//! every referenced Secret key, and the controller watches Secrets so a changed value is
//! rolled out without waiting for a resync. Also: a controller scoped to one namespace
//! (the chart's namespaced mode) lists and watches only there.

use std::time::Duration;

use mcp_v8_operator::controller;
use serde_json::{Value, json};

use super::fixtures::*;

fn hash_of(h: &Harness, name: &str) -> String {
    h.api
        .get(STATEFULSETS, name)
        .map_or_else(String::new, |sts| {
            sts["spec"]["template"]["metadata"]["annotations"]["mcpv8.dev/config-hash"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
}

fn put_secret(h: &Harness, name: &str, data: &[(&str, &str)]) {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(base64(v))))
        .collect();
    h.api.put(
        SECRETS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "data": data}),
    );
}

fn spec_with_secrets() -> Value {
    let mut spec = stateless();
    spec["auth"] = json!({"name": "auth", "key": "tokens.json"});
    spec["fetch"] = json!({"opaUrl": "http://opa:8181", "headerRules": [
        {"host": "api.example", "headers": [{"name": "Authorization", "secretKeyRef": {"name": "hdr", "key": "token"}}]}]});
    spec
}

#[tokio::test]
async fn changing_a_referenced_secret_value_rolls_the_pods() {
    let h = harness().await;
    put_secret(
        &h,
        "auth",
        &[("tokens.json", r#"{"t1": "alice"}"#), ("unused", "x")],
    );
    put_secret(&h, "hdr", &[("token", "Bearer one")]);
    h.create_cluster("sec", &spec_with_secrets());
    h.reconcile_applied("sec").await.unwrap();
    let first = hash_of(&h, "sec");

    // Unrelated changes keep the pods: another key of the same Secret, another Secret.
    put_secret(
        &h,
        "auth",
        &[("tokens.json", r#"{"t1": "alice"}"#), ("unused", "y")],
    );
    put_secret(&h, "raft", &[("secret", "rotated-but-raft-is-off")]);
    h.reconcile("sec").await.unwrap();
    assert_eq!(hash_of(&h, "sec"), first);

    put_secret(
        &h,
        "auth",
        &[("tokens.json", r#"{"t2": "bob"}"#), ("unused", "y")],
    );
    h.reconcile("sec").await.unwrap();
    let second = hash_of(&h, "sec");
    assert_ne!(second, first, "a new auth token file rolls the pods");
    assert!(h.api.event_reasons().contains(&"RollingOut".to_string()));

    put_secret(&h, "hdr", &[("token", "Bearer two")]);
    h.reconcile("sec").await.unwrap();
    assert_ne!(
        hash_of(&h, "sec"),
        second,
        "a new header value rolls the pods"
    );
    // The values themselves never reach the StatefulSet or the ConfigMap.
    let rendered = format!(
        "{}{}",
        h.statefulset("sec"),
        h.api.get(CONFIGMAPS, "sec-config").unwrap()
    );
    assert!(!rendered.contains("Bearer two") && !rendered.contains("bob"));
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

#[tokio::test]
async fn a_namespaced_controller_watches_one_namespace_and_reacts_to_secrets() {
    let h = harness().await;
    put_secret(&h, "auth", &[("tokens.json", r#"{"t1": "alice"}"#)]);
    put_secret(&h, "hdr", &[("token", "Bearer one")]);
    h.create_cluster("live", &spec_with_secrets());
    let other = "/apis/mcpv8.dev/v1alpha1/namespaces/other/mcpv8clusters";
    h.api.put(
        other,
        json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "McpV8Cluster",
               "metadata": {"name": "elsewhere", "namespace": "other", "uid": "uid-elsewhere", "generation": 1},
               "spec": stateless()}),
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(controller::run(
        h.client.clone(),
        h.ctx.clone(),
        Some(NS.to_string()),
        async move {
            let _ = stop_rx.await;
        },
    ));
    eventually("the cluster in the watched namespace to be applied", || {
        !hash_of(&h, "live").is_empty()
    })
    .await;
    // Ready pods settle the cluster (next resync in minutes), so only the Secret watch can
    // bring the next change in time.
    h.set_sts_ready("live", 1);
    eventually("the cluster to settle", || {
        h.condition("live", "Ready")["status"] == "True"
    })
    .await;
    let before = hash_of(&h, "live");
    put_secret(&h, "hdr", &[("token", "Bearer rotated")]);
    eventually("the Secret change to roll the pods", || {
        hash_of(&h, "live") != before
    })
    .await;

    assert!(
        h.api
            .get("/apis/apps/v1/namespaces/other/statefulsets", "elsewhere")
            .is_none(),
        "clusters outside the watched namespace are left alone"
    );
    assert!(
        h.api.get(other, "elsewhere").unwrap()["metadata"]["finalizers"].is_null(),
        "not even a finalizer outside the watched namespace"
    );
    let unscoped: Vec<String> = h
        .api
        .log()
        .into_iter()
        .filter(|r| !r.path.contains("/namespaces/ns/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        unscoped.is_empty(),
        "requests outside the namespace: {unscoped:?}"
    );

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("controllers stop on shutdown")
        .unwrap();
}
