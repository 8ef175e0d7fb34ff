//! Which WasmModules a cluster rolls out: those in its namespace matching
//! `spec.wasmModules` whose status carries a digest verified for their current spec.
//! Modules still being verified or failing are left out (and named in the log) so a bad
//! module never breaks running pods.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::core::{Selector, SelectorExt};
use kube::{Api, Client, ResourceExt};

use crate::crd::{McpV8Cluster, WasmModule};

use super::module_s3::{object_url, region};
use super::render::{ModuleBytes, ModuleInput};

/// Whether `selector` selects a module with `labels` (an unparsable selector selects none).
pub fn selects(selector: &LabelSelector, module: &WasmModule) -> bool {
    match Selector::try_from(selector.clone()) {
        Ok(s) => s.matches(module.labels()),
        Err(_) => false,
    }
}

/// Whether `cluster` selects `module` (same namespace and matching labels).
pub fn cluster_selects(cluster: &McpV8Cluster, module: &WasmModule) -> bool {
    cluster.namespace() == module.namespace()
        && cluster
            .spec
            .wasm_modules
            .as_ref()
            .is_some_and(|s| selects(s, module))
}

/// The rollout input of a verified module, or None while it is not verified.
pub fn module_input(module: &WasmModule) -> Option<ModuleInput> {
    let sha256 = module.verified_digest()?.to_string();
    let src = &module.spec.source;
    let bytes = if let Some(cm) = &src.config_map {
        ModuleBytes::ConfigMap {
            name: cm.key_ref.name.clone(),
            key: cm.key_ref.key.clone(),
        }
    } else if let Some(s) = &src.secret {
        ModuleBytes::Secret {
            name: s.key_ref.name.clone(),
            key: s.key_ref.key.clone(),
        }
    } else if let Some(u) = &src.url {
        ModuleBytes::Url(u.url.clone())
    } else {
        let s3 = src.s3.as_ref()?;
        match &s3.credentials_secret {
            Some(credentials) => ModuleBytes::SignedS3 {
                url: object_url(s3),
                region: region(s3).to_string(),
                credentials: credentials.clone(),
            },
            None => ModuleBytes::Url(object_url(s3)),
        }
    };
    Some(ModuleInput {
        name: module.name_any(),
        global_name: module.spec.global_name.clone(),
        sha256,
        bytes,
    })
}

/// Verified modules `cluster` selects, and the names of selected modules not yet verified.
pub async fn selected(
    client: &Client,
    cluster: &McpV8Cluster,
) -> Result<(Vec<ModuleInput>, Vec<String>), kube::Error> {
    let Some(selector) = &cluster.spec.wasm_modules else {
        return Ok((Vec::new(), Vec::new()));
    };
    let ns = cluster.namespace().unwrap_or_default();
    let mut params = ListParams::default();
    if let Ok(s) = Selector::try_from(selector.clone()) {
        params = params.labels(&s.to_string());
    }
    let list = Api::<WasmModule>::namespaced(client.clone(), &ns)
        .list(&params)
        .await?;
    let mut ready = Vec::new();
    let mut pending = Vec::new();
    // Filter again locally: the server-side selector is an optimisation, not the contract.
    for m in list.items.iter().filter(|m| selects(selector, m)) {
        match module_input(m) {
            Some(input) => ready.push(input),
            None => pending.push(m.name_any()),
        }
    }
    Ok((ready, pending))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::cluster_from_yaml;

    fn module(ns: &str, labels: &str, verified: bool) -> WasmModule {
        let mut m: WasmModule = serde_json::from_value(serde_json::json!({
            "apiVersion": "mcpv8.dev/v1alpha1", "kind": "WasmModule",
            "metadata": {"name": "m", "namespace": ns, "generation": 2, "labels": serde_yaml::from_str::<serde_json::Value>(labels).unwrap()},
            "spec": {"globalName": "m", "source": {"s3": {"endpoint": "http://minio:9000", "bucket": "mods", "key": "m.wasm", "sha256": "d".repeat(64)}}}
        }))
        .unwrap();
        if verified {
            m.status = Some(serde_json::from_value(serde_json::json!({"observedGeneration": 2, "sha256": "d".repeat(64),
                "conditions": [{"type": "Ready", "status": "True", "reason": "Verified", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]})).unwrap());
        }
        m
    }

    #[test]
    fn clusters_select_modules_in_their_namespace_by_labels() {
        let c = cluster_from_yaml(
            "name: c\nspec: {image: i, storage: {stateless: {}}, wasmModules: {matchExpressions: [{key: pack, operator: In, values: [std, extra]}]}}",
        );
        assert!(cluster_selects(&c, &module("ns", "{pack: extra}", true)));
        assert!(!cluster_selects(&c, &module("ns", "{pack: other}", true)));
        assert!(
            !cluster_selects(&c, &module("elsewhere", "{pack: std}", true)),
            "other namespaces are never selected"
        );
        let plain = cluster_from_yaml("name: p\nspec: {image: i, storage: {stateless: {}}}");
        assert!(
            !cluster_selects(&plain, &module("ns", "{pack: std}", true)),
            "no selector selects nothing"
        );
    }

    #[test]
    fn only_modules_verified_for_their_current_generation_roll_out() {
        let input = module_input(&module("ns", "{}", true)).expect("verified module");
        assert_eq!(
            input.bytes,
            ModuleBytes::Url("http://minio:9000/mods/m.wasm".into())
        );
        assert_eq!(input.sha256, "d".repeat(64));
        assert!(module_input(&module("ns", "{}", false)).is_none());
        let mut stale = module("ns", "{}", true);
        stale.metadata.generation = Some(3);
        assert!(
            module_input(&stale).is_none(),
            "a spec change waits for re-verification"
        );
    }
}
