//! The checked-in CRDs match the Rust types, and the CEL rules in them accept the example
//! specs and reject what the schema alone cannot (kube's client-side CEL evaluator runs the
//! exact `x-kubernetes-validations` of the generated CRD).

use kube::CustomResourceExt;
use kube::core::cel::validate_cel;
use mcp_v8_operator::crd::{McpV8Cluster, WasmModule};
use serde_json::{Value, json};

use super::validate::example_docs;

#[test]
fn checked_in_crds_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    for (name, yaml) in mcp_v8_operator::crdgen::render().unwrap() {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "crds/{name} is stale: run `cargo run -p mcp-v8-operator --bin crdgen` and commit the result"
        );
    }
}

#[test]
fn crds_carry_scale_printer_columns_and_cel_rules() {
    let crd = serde_json::to_value(McpV8Cluster::crd()).unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(
        version["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
    assert_eq!(
        version["subresources"]["scale"]["labelSelectorPath"],
        ".status.selector"
    );
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for c in ["Replicas", "Ready", "Storage", "Age"] {
        assert!(columns.contains(&c), "{columns:?}");
    }
    assert!(crd.to_string().contains("x-kubernetes-validations"));
    let module = serde_json::to_value(WasmModule::crd()).unwrap();
    assert_eq!(module["spec"]["scope"], "Namespaced");
}

fn cluster(spec: &Value) -> McpV8Cluster {
    serde_json::from_value(json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "McpV8Cluster", "metadata": {"name": "x"}, "spec": spec}))
        .expect("spec matches the types")
}

fn cel_errors(c: &McpV8Cluster) -> String {
    match validate_cel(c) {
        Ok(()) => String::new(),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn example_specs_pass_the_cel_rules() {
    for (file, doc) in example_docs() {
        match doc["kind"].as_str() {
            Some("McpV8Cluster") => {
                let c: McpV8Cluster = serde_json::from_value(doc.clone()).unwrap();
                assert_eq!(cel_errors(&c), "", "{file}");
            }
            Some("WasmModule") => {
                let m: WasmModule = serde_json::from_value(doc.clone()).unwrap();
                assert!(validate_cel(&m).is_ok(), "{file}: {:?}", validate_cel(&m));
            }
            _ => {}
        }
    }
}

#[test]
fn cel_rules_reject_what_the_schema_cannot() {
    let cases = [
        (
            json!({"image": "i", "storage": {"stateless": {}, "s3": {"bucket": "bkt"}}}),
            "exactly one of storage",
        ),
        (
            json!({"image": "i", "storage": {}}),
            "exactly one of storage",
        ),
        (
            json!({"image": "i", "replicas": 2, "storage": {"stateless": {}}, "raft": {"clusterSecret": {"name": "s", "key": "k"}}}),
            "two replicas cannot keep a quorum",
        ),
        (
            json!({"image": "i", "replicas": 3, "storage": {"local": {}}}),
            "storage.local keeps heaps on one pod",
        ),
        (
            json!({"image": "i", "storage": {"stateless": {}}, "raft": {"clusterSecret": {"name": "s", "key": "k"}, "electionTimeoutMinMs": 500, "electionTimeoutMaxMs": 300}}),
            "electionTimeoutMinMs must be below",
        ),
        (
            json!({"image": "i", "storage": {"stateless": {}}, "fetch": {"opaUrl": "http://opa:8181", "headerRules": [{"host": "h", "headers": [{"name": "A", "value": "v", "secretKeyRef": {"name": "s", "key": "k"}}]}]}}),
            "exactly one of value or secretKeyRef",
        ),
        (
            json!({"image": "i", "storage": {"stateless": {}}, "limits": {"heapMemoryMaxMb": 16, "heapMemoryDefaultMb": 32}}),
            "heapMemoryDefaultMb must not exceed",
        ),
        (
            json!({"image": "i", "storage": {"stateless": {}}, "limits": {"executionTimeoutDefaultSecs": 60}}),
            "executionTimeoutDefaultSecs must not exceed",
        ),
    ];
    for (spec, message) in cases {
        let errors = cel_errors(&cluster(&spec));
        assert!(
            errors.contains(message),
            "{spec} should fail with `{message}`, got: {errors}"
        );
    }
    // The boundary cases that must stay allowed.
    for spec in [
        json!({"image": "i", "replicas": 1, "storage": {"stateless": {}}, "raft": {"clusterSecret": {"name": "s", "key": "k"}}}),
        json!({"image": "i", "replicas": 2, "storage": {"s3": {"bucket": "bkt"}}}),
        json!({"image": "i", "storage": {"stateless": {}}, "limits": {"heapMemoryMaxMb": 16, "heapMemoryDefaultMb": 16, "executionTimeoutDefaultSecs": 30}}),
    ] {
        assert_eq!(cel_errors(&cluster(&spec)), "", "{spec}");
    }
}

#[test]
fn module_sources_must_be_exactly_one() {
    let m: WasmModule = serde_json::from_value(json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "WasmModule", "metadata": {"name": "m"},
        "spec": {"globalName": "m", "source": {"configMap": {"name": "a", "key": "b"}, "url": {"url": "https://x/m.wasm", "sha256": "0"}}}}))
    .unwrap();
    let err = format!("{:?}", validate_cel(&m).expect_err("two sources"));
    assert!(err.contains("exactly one of source.configMap"), "{err}");
}
