//! McpV8Cluster reconcile flows: create, readiness, update and roll-out, scale up and down
//! with raft member removal, module roll-out, NetworkPolicy toggling, deletion through the
//! finalizer, and API failures surfacing as Degraded.

use std::sync::Arc;

use mcp_v8_operator::reconcile::cluster;
use serde_json::{Value, json};

use super::fixtures::*;

fn hash_of(sts: &Value) -> String {
    sts["spec"]["template"]["metadata"]["annotations"]["mcpv8.dev/config-hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn create_renders_every_owned_object_and_reports_progress() {
    let h = harness().await;
    h.create_cluster("alpha", &stateless());
    h.reconcile_applied("alpha")
        .await
        .expect("reconcile succeeds");

    let c = h.cluster("alpha");
    assert_eq!(c["metadata"]["finalizers"], json!(["mcpv8.dev/cleanup"]));
    for (collection, name) in [
        (STATEFULSETS, "alpha"),
        (SERVICES, "alpha"),
        (SERVICES, "alpha-peers"),
        (CONFIGMAPS, "alpha-config"),
        (SERVICEACCOUNTS, "alpha"),
        (PDBS, "alpha"),
    ] {
        let obj = h
            .api
            .get(collection, name)
            .unwrap_or_else(|| panic!("{collection}/{name} missing"));
        assert_eq!(
            obj["metadata"]["ownerReferences"][0]["uid"], "uid-alpha",
            "{collection}/{name}"
        );
        assert_eq!(obj["metadata"]["ownerReferences"][0]["controller"], true);
    }
    assert!(
        h.api.get(NETPOLS, "alpha").is_none(),
        "no NetworkPolicy without allowedClients"
    );
    let applies = h
        .api
        .log()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("statefulsets"))
        .count();
    assert_eq!(applies, 1);

    let status = &c["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["storage"], "stateless");
    assert_eq!(status["endpoint"], "http://alpha.ns.svc:8080/mcp");
    assert_eq!(
        status["selector"],
        "app.kubernetes.io/instance=alpha,app.kubernetes.io/name=mcp-v8"
    );
    assert_eq!(h.condition("alpha", "Ready")["status"], "False");
    assert_eq!(h.condition("alpha", "Progressing")["status"], "True");
    assert_eq!(h.condition("alpha", "Degraded")["status"], "False");
}

#[tokio::test]
async fn ready_statefulset_makes_the_cluster_ready_with_an_event() {
    let h = harness().await;
    h.create_cluster("beta", &stateless());
    h.reconcile_applied("beta").await.unwrap();
    h.set_sts_ready("beta", 1);
    let action = h.reconcile("beta").await.unwrap();
    assert_eq!(h.condition("beta", "Ready")["status"], "True");
    assert_eq!(h.condition("beta", "Progressing")["status"], "False");
    assert_eq!(h.cluster("beta")["status"]["readyReplicas"], 1);
    assert!(
        h.api.event_reasons().contains(&"Ready".to_string()),
        "{:?}",
        h.api.event_reasons()
    );
    // A settled cluster is re-checked rarely; an unsettled one soon.
    assert_eq!(
        format!("{action:?}"),
        format!(
            "{:?}",
            kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(300))
        )
    );
}

#[tokio::test]
async fn spec_update_rolls_the_pods_through_the_config_hash() {
    let h = harness().await;
    h.create_cluster("gamma", &stateless());
    h.reconcile_applied("gamma").await.unwrap();
    let before = hash_of(&h.statefulset("gamma"));
    h.edit_spec("gamma", |s| {
        s["limits"] = json!({"heapMemoryMaxMb": 32, "executionTimeoutMaxSecs": 60});
    });
    h.reconcile("gamma").await.unwrap();
    let sts = h.statefulset("gamma");
    assert_ne!(hash_of(&sts), before);
    let args: Vec<String> =
        serde_json::from_value(sts["spec"]["template"]["spec"]["containers"][0]["args"].clone())
            .unwrap();
    let i = args.iter().position(|a| a == "--heap-memory-max").unwrap();
    assert_eq!(args[i + 1], "32");
    assert!(h.api.event_reasons().contains(&"RollingOut".to_string()));
    assert_eq!(h.cluster("gamma")["status"]["observedGeneration"], 2);
}

#[tokio::test]
async fn scale_down_removes_raft_voters_before_the_statefulset_shrinks() {
    let h = harness().await;
    h.create_cluster("c", &raft_s3(5));
    h.reconcile_applied("c").await.unwrap();
    h.set_sts_ready("c", 5);
    h.reconcile("c").await.unwrap();
    assert_eq!(
        h.cluster("c")["status"]["raftLeader"],
        "c-1",
        "numeric leader id 2 is pod c-1"
    );

    h.edit_spec("c", |s| s["replicas"] = json!(3));
    h.reconcile("c").await.unwrap();
    let removed = h.admin.state.lock().unwrap().removed.clone();
    assert_eq!(
        removed,
        vec!["c-4".to_string(), "c-3".to_string()],
        "highest ordinal first"
    );
    assert_eq!(
        h.admin.state.lock().unwrap().unauthorized,
        0,
        "the cluster secret was sent"
    );
    assert_eq!(h.statefulset("c")["spec"]["replicas"], 3);
    let pdb = h.api.get(PDBS, "c").unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], 2, "quorum of 3");
    let reasons = h.api.event_reasons();
    assert!(
        reasons.iter().filter(|r| *r == "RaftMemberRemoved").count() == 2,
        "{reasons:?}"
    );
    assert!(reasons.contains(&"Scaling".to_string()));
}

#[tokio::test]
async fn failed_member_removal_blocks_the_scale_down_and_degrades() {
    let h = harness().await;
    h.create_cluster("d", &raft_s3(5));
    h.reconcile_applied("d").await.unwrap();
    h.admin.state.lock().unwrap().fail_removals = true;
    h.edit_spec("d", |s| s["replicas"] = json!(3));
    let err = h
        .reconcile("d")
        .await
        .expect_err("removal failure fails the reconcile");
    let action = cluster::error_policy(
        Arc::new(serde_json::from_value(h.cluster("d")).unwrap()),
        &err,
        h.ctx.clone(),
    );
    assert!(format!("{action:?}").contains("15s"), "{action:?}");
    assert_eq!(h.ctx.metrics.errors_of("McpV8Cluster", "member_removal"), 1);
    assert_eq!(
        h.statefulset("d")["spec"]["replicas"],
        5,
        "pods stay until voters are removed"
    );
    let degraded = h.condition("d", "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "MemberRemovalFailed");
    assert!(
        degraded["message"].as_str().unwrap().contains("d-4"),
        "{degraded}"
    );

    // Once the executor accepts, the same spec converges.
    h.admin.state.lock().unwrap().fail_removals = false;
    h.reconcile("d").await.unwrap();
    assert_eq!(h.statefulset("d")["spec"]["replicas"], 3);
    assert_eq!(h.condition("d", "Degraded")["status"], "False");
}

#[tokio::test]
async fn scale_up_adds_replicas_without_removals() {
    let h = harness().await;
    h.create_cluster("e", &raft_s3(3));
    h.reconcile_applied("e").await.unwrap();
    h.edit_spec("e", |s| s["replicas"] = json!(5));
    h.reconcile("e").await.unwrap();
    assert_eq!(h.statefulset("e")["spec"]["replicas"], 5);
    assert!(h.admin.state.lock().unwrap().removed.is_empty());
    assert_eq!(h.api.get(PDBS, "e").unwrap()["spec"]["minAvailable"], 3);
}

fn module(name: &str, global: &str, sha: Option<&str>, generation: i64) -> Value {
    let mut m = json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "WasmModule",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": generation, "labels": {"pack": "std"}},
        "spec": {"globalName": global, "source": {"configMap": {"name": format!("{name}-bytes"), "key": "module.wasm"}}}});
    if let Some(sha) = sha {
        m["status"] = json!({"observedGeneration": generation, "sha256": sha, "size": 10, "exports": ["f (func)"],
            "conditions": [{"type": "Ready", "status": "True", "reason": "Verified", "message": "ok",
                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    }
    m
}

#[tokio::test]
async fn module_changes_roll_the_clusters_that_select_them() {
    let h = harness().await;
    let a = "a".repeat(64);
    h.api.put(MODULES, module("sqlite", "sqlite", Some(&a), 1));
    h.api.put(MODULES, module("pending", "pending", None, 1));
    let mut spec = stateless();
    spec["wasmModules"] = json!({"matchLabels": {"pack": "std"}});
    h.create_cluster("m", &spec);
    h.reconcile_applied("m").await.unwrap();

    let status = &h.cluster("m")["status"];
    assert_eq!(
        status["modules"],
        json!([{"name": "sqlite", "globalName": "sqlite", "sha256": a}]),
        "unverified modules are not rolled out"
    );
    let cm = h.api.get(CONFIGMAPS, "m-config").unwrap();
    let wasm: Value =
        serde_json::from_str(cm["data"]["wasm-config.json"].as_str().unwrap()).unwrap();
    assert_eq!(wasm["sqlite"], "/etc/mcp-v8/wasm/sqlite/module.wasm");
    let before = hash_of(&h.statefulset("m"));

    let b = "b".repeat(64);
    h.api.put(MODULES, module("sqlite", "sqlite", Some(&b), 2));
    h.reconcile("m").await.unwrap();
    assert_ne!(
        hash_of(&h.statefulset("m")),
        before,
        "a new digest rolls the pods"
    );
    assert_eq!(h.cluster("m")["status"]["modules"][0]["sha256"], b);
}

#[tokio::test]
async fn network_policy_follows_allowed_clients() {
    let h = harness().await;
    let mut spec = stateless();
    spec["allowedClients"] = json!([{"namespaceSelector": {"matchLabels": {"team": "agents"}}}]);
    h.create_cluster("n", &spec);
    h.reconcile_applied("n").await.unwrap();
    let np = h.api.get(NETPOLS, "n").expect("NetworkPolicy created");
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]["team"],
        "agents"
    );
    h.edit_spec("n", |s| {
        s.as_object_mut().unwrap().remove("allowedClients");
    });
    h.reconcile("n").await.unwrap();
    assert!(
        h.api.get(NETPOLS, "n").is_none(),
        "NetworkPolicy removed with allowedClients"
    );
}

#[tokio::test]
async fn deletion_runs_the_finalizer_and_releases_the_object() {
    let h = harness().await;
    h.create_cluster("z", &stateless());
    h.reconcile_applied("z").await.unwrap();
    h.api.edit(CLUSTERS, "z", |o| {
        o["metadata"]["deletionTimestamp"] = json!("2026-11-21T12:00:00Z");
    });
    h.reconcile("z").await.unwrap();
    assert!(
        h.api.get(CLUSTERS, "z").is_none(),
        "finalizer removed, object gone"
    );
    assert!(h.api.event_reasons().contains(&"Deleting".to_string()));
}

#[tokio::test]
async fn api_errors_fail_the_reconcile_and_show_as_degraded() {
    let h = harness().await;
    h.create_cluster("f", &stateless());
    h.reconcile_applied("f").await.unwrap();
    h.api.fail("PATCH", "/statefulsets/f", 500, 1);
    let err = h
        .reconcile("f")
        .await
        .expect_err("a failed apply fails the reconcile");
    assert!(
        err.to_string().contains("Kubernetes API call failed"),
        "{err}"
    );
    assert_eq!(h.condition("f", "Degraded")["status"], "True");
    assert_eq!(h.condition("f", "Degraded")["reason"], "ReconcileError");
    h.reconcile("f").await.expect("recovers once the API does");
    assert_eq!(h.condition("f", "Degraded")["status"], "False");
}

#[tokio::test]
async fn status_write_conflicts_are_reported_and_retried() {
    let h = harness().await;
    h.create_cluster("g", &stateless());
    h.reconcile_applied("g").await.unwrap();
    h.api.fail("PATCH", "/mcpv8clusters/g/status", 409, 1);
    let err = h
        .reconcile("g")
        .await
        .expect_err("a conflicting status write fails the pass");
    assert!(
        err.to_string().contains("Kubernetes API call failed"),
        "{err}"
    );
    h.reconcile("g").await.expect("the retry succeeds");
    assert_eq!(h.cluster("g")["status"]["observedGeneration"], 1);
}

#[tokio::test]
async fn missing_cluster_secret_is_a_clear_degraded_condition() {
    let h = harness().await;
    let mut spec = raft_s3(5);
    spec["raft"]["clusterSecret"]["name"] = json!("absent");
    h.create_cluster("s", &spec);
    h.reconcile_applied("s").await.unwrap();
    h.edit_spec("s", |s| s["replicas"] = json!(3));
    let err = h
        .reconcile("s")
        .await
        .expect_err("removal needs the secret");
    assert!(
        err.to_string()
            .contains("Secret ns/absent has no key `secret`"),
        "{err}"
    );
    assert_eq!(h.condition("s", "Degraded")["reason"], "MissingSecret");
    assert_eq!(h.statefulset("s")["spec"]["replicas"], 5);
}
