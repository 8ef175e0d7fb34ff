//! The pure half of reconciliation: a cluster spec plus the verified modules it selects
//! become the complete set of desired objects. Nothing here talks to the API server, so
//! every object can be unit-tested and schema-validated directly.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;
use sha2::{Digest, Sha256};

use crate::crd::McpV8Cluster;
use crate::crd::cluster::S3Credentials;
use crate::quantity::QuantityError;

use super::naming::Names;
use super::{args, configmap, networkpolicy, pdb, serviceaccount, services, statefulset};

/// Operator-wide inputs to rendering.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Cluster DNS domain (`cluster.local`).
    pub cluster_domain: String,
    /// Namespace the operator runs in (admitted by NetworkPolicies, for member removal).
    pub operator_namespace: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".into(),
            operator_namespace: "mcp-v8-system".into(),
        }
    }
}

/// Where a selected module's bytes reach the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleBytes {
    /// A key of a ConfigMap in the namespace, mounted as a file.
    ConfigMap {
        /// ConfigMap name.
        name: String,
        /// Key.
        key: String,
    },
    /// A key of a Secret in the namespace, mounted as a file.
    Secret {
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
    /// Fetched by the executor at startup and checked against the digest.
    Url(String),
    /// Fetched by the executor at startup with a SigV4-signed GET; the credentials Secret's
    /// keys are mounted as files in the module's directory.
    SignedS3 {
        /// Object URL.
        url: String,
        /// Signing region.
        region: String,
        /// Where the credentials are.
        credentials: S3Credentials,
    },
}

/// A verified WasmModule selected by the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInput {
    /// WasmModule object name.
    pub name: String,
    /// Global name in the isolates.
    pub global_name: String,
    /// Verified sha256.
    pub sha256: String,
    /// Where the bytes come from.
    pub bytes: ModuleBytes,
}

/// Every object the operator keeps for one cluster.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// Pod identity (no API token mounted).
    pub service_account: ServiceAccount,
    /// Raft peers Service.
    pub headless: Service,
    /// Client Service.
    pub client: Service,
    /// Module list and header rules.
    pub config: ConfigMap,
    /// Executor pods.
    pub statefulset: StatefulSet,
    /// Disruption budget keeping quorum.
    pub pdb: PodDisruptionBudget,
    /// Present when the spec restricts clients.
    pub network_policy: Option<NetworkPolicy>,
}

/// A spec the operator cannot render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A size in the spec is not a quantity.
    #[error("invalid size in the spec: {0}")]
    Quantity(#[from] QuantityError),
    /// Two selected modules claim one global.
    #[error(
        "WasmModules {first} and {second} both use the global name `{global}`: rename one or narrow spec.wasmModules"
    )]
    DuplicateGlobal {
        /// Global name.
        global: String,
        /// First module.
        first: String,
        /// Second module.
        second: String,
    },
}

impl RenderError {
    /// Bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Quantity(_) => "invalid_quantity",
            Self::DuplicateGlobal { .. } => "duplicate_module_global",
        }
    }
}

/// Metadata for an object named `name` owned by `cluster`.
pub fn owned_meta(cluster: &McpV8Cluster, name: &str) -> ObjectMeta {
    let names = Names::of(cluster);
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(names.namespace.clone()),
        labels: Some(names.labels()),
        owner_references: owner_ref(cluster).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

fn owner_ref(cluster: &McpV8Cluster) -> Option<OwnerReference> {
    cluster.controller_owner_ref(&())
}

/// Renders every desired object of `cluster` with `modules` (verified, selected modules).
pub fn render(
    cluster: &McpV8Cluster,
    modules: &[ModuleInput],
    settings: &Settings,
) -> Result<Rendered, RenderError> {
    render_with_secrets(cluster, modules, settings, "")
}

/// [`render`], with the digest of the referenced Secrets' values (see
/// [`super::secrets::digest`]) folded into the pod template's config hash.
pub fn render_with_secrets(
    cluster: &McpV8Cluster,
    modules: &[ModuleInput],
    settings: &Settings,
    secrets_digest: &str,
) -> Result<Rendered, RenderError> {
    let mut modules = modules.to_vec();
    modules.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = std::collections::BTreeMap::new();
    for m in &modules {
        if let Some(first) = seen.insert(m.global_name.as_str(), m.name.as_str()) {
            return Err(RenderError::DuplicateGlobal {
                global: m.global_name.clone(),
                first: first.to_string(),
                second: m.name.clone(),
            });
        }
    }
    let config = configmap::render(cluster, &modules);
    let args = args::executor_args(cluster, settings, !modules.is_empty())?;
    let hash = config_hash(&args, &config, &modules, secrets_digest);
    Ok(Rendered {
        service_account: serviceaccount::render(cluster),
        headless: services::headless(cluster),
        client: services::client(cluster),
        statefulset: statefulset::render(cluster, &modules, args, &hash),
        pdb: pdb::render(cluster),
        network_policy: networkpolicy::render(cluster, settings),
        config,
    })
}

/// Hash over everything a pod reads at startup that is not in its own template: the
/// ConfigMap contents, the module digests (a module changing behind the same URL or
/// ConfigMap key must still roll the pods) and the values of the referenced Secrets. The
/// args are included for good measure.
fn config_hash(
    args: &[String],
    config: &ConfigMap,
    modules: &[ModuleInput],
    secrets_digest: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(secrets_digest.as_bytes());
    h.update([0]);
    for a in args {
        h.update(a.as_bytes());
        h.update([0]);
    }
    for (k, v) in config.data.iter().flatten() {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    for m in modules {
        h.update(m.name.as_bytes());
        h.update(m.sha256.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}
