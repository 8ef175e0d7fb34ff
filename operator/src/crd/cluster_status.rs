//! Observed state of an `McpV8Cluster`, written by the operator every reconcile: the
//! conditions, replica counts, the selector the scale subresource exposes, the raft leader,
//! the client endpoint and the modules rolled out.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Observed state, written by the operator every reconcile.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct McpV8ClusterStatus {
    /// Ready, Progressing and Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods the StatefulSet runs.
    #[serde(default)]
    pub replicas: i32,
    /// Pods passing their readiness probe.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Label selector of the pods, for the scale subresource (HPA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// stateless, local or s3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Node id of the current raft leader, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft_leader: Option<String>,
    /// Streamable HTTP URL agents in the cluster connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// WasmModules this cluster preloads, with the digests rolled out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<SelectedModule>,
}

/// A module rolled out to the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SelectedModule {
    /// WasmModule name.
    pub name: String,
    /// Global name in the isolates.
    pub global_name: String,
    /// sha256 of the module bytes.
    pub sha256: String,
}
