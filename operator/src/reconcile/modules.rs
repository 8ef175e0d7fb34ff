//! Which WasmModules a cluster rolls out: those in its namespace matching
//! `spec.wasmModules` whose status carries a digest verified for their current spec.
//! Modules still being verified or failing are left out (and named in the log) so a bad
//! module never breaks running pods.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::core::{Selector, SelectorExt};
use kube::{Api, Client, ResourceExt};

use crate::crd::{McpV8Cluster, WasmModule};

use super::module_bytes::s3_url;
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
        ModuleBytes::Url(s3_url(&s3.endpoint, &s3.bucket, &s3.key))
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
