//! Strict schema validation with `kubernetes-validate` (PyPI; bundles the Kubernetes
//! OpenAPI schemas and runs offline) for Kubernetes 1.33: every object the operator renders
//! for the example specs in `operator/examples/`, and the CRDs in `crds/`. Custom resources
//! themselves are checked against the CRD's CEL rules in `crds.rs` (kubernetes-validate has
//! no schemas for them).

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::Resource;
use mcp_v8_operator::crd::{McpV8Cluster, WasmModule};
use mcp_v8_operator::reconcile::modules::{cluster_selects, module_input};
use mcp_v8_operator::reconcile::render::{Settings, render};
use serde::Serialize;
use serde_json::{Value, json};

/// Every YAML document of every example file, with its file name.
pub fn example_docs() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("operator/examples exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc).expect("example YAML parses");
            if !value.is_null() {
                docs.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    value,
                ));
            }
        }
    }
    docs
}

fn kubernetes_validate() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBERNETES_VALIDATE").map(PathBuf::from) {
        assert!(
            p.is_file(),
            "KUBERNETES_VALIDATE={} does not exist: run `make tools` (PyPI kubernetes-validate)",
            p.display()
        );
        return p;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("kubernetes-validate"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("kubernetes-validate not found: run `make tools` (PyPI kubernetes-validate) or set KUBERNETES_VALIDATE to its path")
    })
}

fn typed<K: Resource<DynamicType = ()> + Serialize>(obj: &K) -> Value {
    let mut v = serde_json::to_value(obj).unwrap();
    v["apiVersion"] = K::api_version(&()).into();
    v["kind"] = K::kind(&()).into();
    v
}

/// Marks an example module verified, as the module controller would after checking it.
fn verified(mut module: WasmModule) -> WasmModule {
    let sha = module
        .spec
        .source
        .url
        .as_ref()
        .map(|u| u.sha256.clone())
        .unwrap_or_else(|| "c".repeat(64));
    module.metadata.generation = Some(1);
    module.status = Some(serde_json::from_value(json!({"observedGeneration": 1, "sha256": sha, "size": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Verified", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})).unwrap());
    module
}

/// Every object rendered for the example clusters.
fn rendered_examples() -> Vec<(String, Value)> {
    let docs = example_docs();
    let modules: Vec<WasmModule> = docs
        .iter()
        .filter(|(_, d)| d["kind"] == "WasmModule")
        .map(|(_, d)| verified(serde_json::from_value(d.clone()).unwrap()))
        .collect();
    let mut out = Vec::new();
    for (file, doc) in docs.iter().filter(|(_, d)| d["kind"] == "McpV8Cluster") {
        let mut cluster: McpV8Cluster = serde_json::from_value(doc.clone()).unwrap();
        cluster.metadata.uid = Some("0b7c9a3e-2f4d-4a51-9c1e-6f8d2b3a4c5d".into());
        let inputs: Vec<_> = modules
            .iter()
            .filter(|m| cluster_selects(&cluster, m))
            .filter_map(module_input)
            .collect();
        if file == "modules.yaml" {
            assert_eq!(
                inputs.len(),
                3,
                "the example cluster selects all three example modules"
            );
        }
        let r = render(&cluster, &inputs, &Settings::default()).expect("example renders");
        let mut objs = vec![
            typed(&r.service_account),
            typed(&r.headless),
            typed(&r.client),
            typed(&r.config),
            typed(&r.statefulset),
            typed(&r.pdb),
        ];
        if let Some(np) = &r.network_policy {
            objs.push(typed(np));
        }
        if file == "networkpolicy.yaml" {
            assert!(r.network_policy.is_some());
        }
        out.extend(objs.into_iter().map(|o| (file.clone(), o)));
    }
    out
}

fn run_validator(files: &[PathBuf]) -> (bool, String) {
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "--kubernetes-version", "1.33", "--quiet"])
        .args(files)
        .output()
        .expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-v8-operator-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn rendered_objects_pass_strict_kubernetes_1_33_validation() {
    let objects = rendered_examples();
    assert!(
        objects.len() >= 30,
        "every example renders its objects ({})",
        objects.len()
    );
    let dir = scratch("rendered");
    let mut files = Vec::new();
    for (i, (file, obj)) in objects.iter().enumerate() {
        let path = dir.join(format!(
            "{i:02}-{}-{}.yaml",
            file.trim_end_matches(".yaml"),
            obj["kind"].as_str().unwrap().to_lowercase()
        ));
        std::fs::write(&path, serde_yaml::to_string(obj).unwrap()).unwrap();
        files.push(path);
    }
    let (ok, text) = run_validator(&files);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok, "kubernetes-validate rejected rendered objects:\n{text}");
}

#[test]
fn crds_pass_strict_kubernetes_1_33_validation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let files: Vec<PathBuf> = ["mcpv8clusters.yaml", "wasmmodules.yaml"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    let (ok, text) = run_validator(&files);
    assert!(ok, "kubernetes-validate rejected the CRDs:\n{text}");
}

#[test]
fn the_validator_rejects_an_unknown_field() {
    // Guards the two tests above: a strict validator must catch a typo in a rendered object.
    let dir = scratch("negative");
    let path = dir.join("bad.yaml");
    let bad = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}], "clusterIp": "None"}});
    std::fs::write(&path, serde_yaml::to_string(&bad).unwrap()).unwrap();
    let (ok, text) = run_validator(std::slice::from_ref(&path));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!ok, "strict validation accepted an unknown field:\n{text}");
}
