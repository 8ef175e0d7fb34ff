//! `WasmModule`: a WebAssembly module that clusters can preload as a global. The operator
//! fetches the bytes, verifies the digest, lists the exports with wasmparser and reports
//! them in status; clusters only roll out modules whose status carries a verified digest.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::cluster::S3Credentials;
use super::common::KeyRef;

/// Desired state of a WebAssembly module.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mcpv8.dev",
    version = "v1alpha1",
    kind = "WasmModule",
    plural = "wasmmodules",
    shortname = "wasm",
    category = "mcpv8",
    namespaced,
    status = "WasmModuleStatus",
    derive = "PartialEq",
    doc = "A WebAssembly module preloaded into the isolates of the McpV8Clusters that select it",
    printcolumn = r#"{"name":"Global","type":"string","jsonPath":".spec.globalName"}"#,
    printcolumn = r#"{"name":"Digest","type":"string","jsonPath":".status.sha256","priority":1}"#,
    printcolumn = r#"{"name":"Size","type":"integer","jsonPath":".status.size"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WasmModuleSpec {
    /// JavaScript global the instantiated exports are exposed as (the compiled module is
    /// also `__wasm_<globalName>`).
    #[schemars(regex(pattern = r"^[A-Za-z_$][A-Za-z0-9_$]{0,62}$"))]
    pub global_name: String,
    /// Where the bytes come from.
    pub source: WasmSource,
}

/// Module source: exactly one member is set. Remote sources require a sha256.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.configMap), has(self.secret), has(self.url), has(self.s3)].filter(x, x).size() == 1").message("set exactly one of source.configMap, source.secret, source.url or source.s3"))]
pub struct WasmSource {
    /// A ConfigMap key (binaryData or data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<LocalSource>,
    /// A Secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalSource>,
    /// An HTTP(S) URL; the executor fetches it at startup and checks the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<UrlSource>,
    /// An object in an S3-compatible bucket (public, or signed with credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Source>,
}

/// A key of a ConfigMap or Secret, with an optional expected digest.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LocalSource {
    /// ConfigMap or Secret name and key.
    #[serde(flatten)]
    pub key_ref: KeyRef,
    /// Expected sha256 (64 lowercase hex); when set, a mismatch marks the module not Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: Option<String>,
}

/// A module fetched over HTTP(S).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UrlSource {
    /// Where to download the module.
    #[x_kube(validation = Rule::new("isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))").message("source.url.url must be an http:// or https:// URL"))]
    pub url: String,
    /// Required sha256 of the bytes (64 lowercase hex).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// A module stored in an S3 or S3-compatible bucket, read anonymously (a public object) or
/// with SigV4-signed requests when `credentialsSecret` is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.endpoint) || has(self.region)").message("source.s3 needs an endpoint, a region (for AWS), or both"))]
pub struct S3Source {
    /// Endpoint URL such as `http://minio.storage:9000`; unset uses AWS
    /// (`https://s3.<region>.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self)").message("source.s3.endpoint must be a URL"))]
    pub endpoint: Option<String>,
    /// Region the requests are signed for; unset means `us-east-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub region: Option<String>,
    /// Path-style addressing (`<endpoint>/<bucket>/<key>`) instead of virtual-hosted
    /// (`<bucket>.<endpoint host>/<key>`); unset means path style with an endpoint and
    /// virtual-hosted on AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Object key.
    #[schemars(length(min = 1))]
    pub key: String,
    /// Required sha256 of the bytes (64 lowercase hex).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Secret with the access key id, secret access key and optional session token; the
    /// keys are also mounted into the executor pods, which fetch the object themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<S3Credentials>,
}

/// Observed state of a module.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct WasmModuleStatus {
    /// Ready says whether the bytes were fetched, matched the digest and parsed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Verified sha256 of the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Exported names with their kind, e.g. `add (func)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<String>,
}

impl WasmModule {
    /// The verified digest, present only while the module is Ready for the current spec.
    pub fn verified_digest(&self) -> Option<&str> {
        let status = self.status.as_ref()?;
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let current = status.observed_generation == self.metadata.generation;
        if ready && current {
            status.sha256.as_deref()
        } else {
            None
        }
    }
}
