//! The cluster's ConfigMap: the WASM module list (`--wasm-config`) and the fetch header
//! rules (`--fetch-header-config`). Secret header values appear here only as paths of
//! mounted Secret files (`{"value_file": …}`), never as values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Map, Value, json};

use crate::crd::McpV8Cluster;
use crate::crd::common::KeyRef;

use super::naming::{FETCH_HEADERS_KEY, FETCH_SECRETS_DIR, Names, WASM_CONFIG_KEY, WASM_DIR};
use super::render::{ModuleBytes, ModuleInput, owned_meta};

/// File name of a module inside its directory under [`WASM_DIR`].
pub const MODULE_FILE: &str = "module.wasm";

/// Path in the pod where a fetch header Secret key is mounted.
pub fn fetch_secret_path(key_ref: &KeyRef) -> String {
    format!("{FETCH_SECRETS_DIR}/{}/{}", key_ref.name, key_ref.key)
}

/// File names of a signed S3 module's credentials inside its directory.
pub const S3_ACCESS_KEY_FILE: &str = "access-key-id";
/// See [`S3_ACCESS_KEY_FILE`].
pub const S3_SECRET_KEY_FILE: &str = "secret-access-key";
/// See [`S3_ACCESS_KEY_FILE`].
pub const S3_SESSION_TOKEN_FILE: &str = "session-token";

/// Directory in the pod where a ConfigMap/Secret module (or S3 credentials) is mounted.
pub fn module_dir(module: &ModuleInput) -> String {
    format!("{WASM_DIR}/{}", module.name)
}

/// The executor's `--wasm-config` document.
pub fn wasm_config(modules: &[ModuleInput]) -> Value {
    let mut map = Map::new();
    for m in modules {
        let entry = match &m.bytes {
            ModuleBytes::Url(url) => json!({"url": url, "sha256": m.sha256}),
            ModuleBytes::SignedS3 {
                url,
                region,
                credentials,
            } => {
                let dir = module_dir(m);
                let mut s3 = json!({
                    "region": region,
                    "access_key_id_file": format!("{dir}/{S3_ACCESS_KEY_FILE}"),
                    "secret_access_key_file": format!("{dir}/{S3_SECRET_KEY_FILE}"),
                });
                if credentials.session_token_key.is_some() {
                    s3["session_token_file"] = json!(format!("{dir}/{S3_SESSION_TOKEN_FILE}"));
                }
                json!({"url": url, "sha256": m.sha256, "s3": s3})
            }
            ModuleBytes::ConfigMap { .. } | ModuleBytes::Secret { .. } => {
                json!(format!("{}/{MODULE_FILE}", module_dir(m)))
            }
        };
        map.insert(m.global_name.clone(), entry);
    }
    Value::Object(map)
}

/// The executor's `--fetch-header-config` document, or None without header rules.
pub fn fetch_header_config(cluster: &McpV8Cluster) -> Option<Value> {
    let fetch = cluster
        .spec
        .fetch
        .as_ref()
        .filter(|f| !f.header_rules.is_empty())?;
    let rules: Vec<Value> = fetch
        .header_rules
        .iter()
        .map(|rule| {
            let headers: Map<String, Value> = rule
                .headers
                .iter()
                .map(|h| {
                    let value = match (&h.value, &h.secret_key_ref) {
                        (_, Some(key_ref)) => json!({"value_file": fetch_secret_path(key_ref)}),
                        (Some(v), None) => json!(v),
                        (None, None) => json!(""),
                    };
                    (h.name.clone(), value)
                })
                .collect();
            json!({"host": rule.host, "methods": rule.methods, "headers": headers})
        })
        .collect();
    Some(json!({ "rules": rules }))
}

/// The desired ConfigMap.
pub fn render(cluster: &McpV8Cluster, modules: &[ModuleInput]) -> ConfigMap {
    let names = Names::of(cluster);
    let mut data = BTreeMap::new();
    if !modules.is_empty() {
        data.insert(WASM_CONFIG_KEY.to_string(), pretty(&wasm_config(modules)));
    }
    if let Some(headers) = fetch_header_config(cluster) {
        data.insert(FETCH_HEADERS_KEY.to_string(), pretty(&headers));
    }
    ConfigMap {
        metadata: owned_meta(cluster, &names.config),
        data: Some(data),
        ..ConfigMap::default()
    }
}

fn pretty(v: &Value) -> String {
    // Serialising a Value cannot fail; the fallback keeps this total without a panic path.
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::cluster_from_yaml;

    #[test]
    fn secret_header_values_are_file_references_not_values() {
        let c = cluster_from_yaml(
            "name: f\nspec:\n  image: i\n  storage: {stateless: {}}\n  fetch:\n    opaUrl: http://opa:8181\n    headerRules:\n    - host: '*.example.com'\n      methods: [GET]\n      headers:\n      - {name: Authorization, secretKeyRef: {name: api, key: token}}\n      - {name: X-Team, value: blue}\n",
        );
        let cm = render(&c, &[]);
        let text = &cm.data.as_ref().unwrap()[FETCH_HEADERS_KEY];
        let doc: Value = serde_json::from_str(text).unwrap();
        let rule = &doc["rules"][0];
        assert_eq!(rule["host"], "*.example.com");
        assert_eq!(
            rule["headers"]["Authorization"]["value_file"],
            "/etc/mcp-v8/fetch/api/token"
        );
        assert_eq!(rule["headers"]["X-Team"], "blue");
        assert!(!cm.data.unwrap().contains_key(WASM_CONFIG_KEY));
    }

    #[test]
    fn module_list_maps_globals_to_files_or_urls() {
        let modules = vec![
            ModuleInput {
                name: "sq".into(),
                global_name: "sqlite".into(),
                sha256: "a".repeat(64),
                bytes: ModuleBytes::ConfigMap {
                    name: "cm".into(),
                    key: "k".into(),
                },
            },
            ModuleInput {
                name: "re".into(),
                global_name: "regex".into(),
                sha256: "b".repeat(64),
                bytes: ModuleBytes::Url("https://x/re.wasm".into()),
            },
        ];
        let v = wasm_config(&modules);
        assert_eq!(v["sqlite"], "/etc/mcp-v8/wasm/sq/module.wasm");
        assert_eq!(v["regex"]["url"], "https://x/re.wasm");
        assert_eq!(v["regex"]["sha256"], "b".repeat(64));
    }
}
