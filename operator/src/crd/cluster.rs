//! `McpV8Cluster`: one executor deployment (a StatefulSet of `mcp-v8` replicas, optionally
//! a raft group) and everything around it. The schema carries the CEL rules that the
//! structure alone cannot express, so the API server rejects a bad spec before the operator
//! ever sees it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

pub use super::cluster_status::{McpV8ClusterStatus, SelectedModule};
use super::common::KeyRef;

/// Desired state of an mcp-v8 executor cluster.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mcpv8.dev",
    version = "v1alpha1",
    kind = "McpV8Cluster",
    plural = "mcpv8clusters",
    shortname = "mcpv8",
    category = "mcpv8",
    namespaced,
    status = "McpV8ClusterStatus",
    derive = "PartialEq",
    doc = "An mcp-v8 executor deployment: V8 sandboxes served over MCP, with persistent heap snapshots",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Storage","type":"string","jsonPath":".status.storage"}"#,
    printcolumn = r#"{"name":"Leader","type":"string","jsonPath":".status.raftLeader","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(
    validation = Rule::new("!has(self.raft) || !self.raft.enabled || self.replicas <= 1 || self.replicas >= 3").message("with raft enabled, replicas must be 0, 1 or at least 3: two replicas cannot keep a quorum when one is lost"),
    validation = Rule::new("!has(self.storage.local) || self.replicas <= 1").message("storage.local keeps heaps on one pod's volume: use replicas 0 or 1, or storage.s3 to share heaps between replicas"),
)]
#[serde(rename_all = "camelCase")]
pub struct McpV8ClusterSpec {
    /// Number of executor pods.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 99))]
    pub replicas: i32,
    /// Executor container image (it must contain the `mcp-v8` binary as its entrypoint).
    #[schemars(length(min = 1))]
    pub image: String,
    /// Image pull policy: Always, IfNotPresent or Never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self in ['Always', 'IfNotPresent', 'Never']").message("imagePullPolicy must be Always, IfNotPresent or Never"))]
    pub image_pull_policy: Option<String>,
    /// Names of Secrets used to pull the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    /// CPU and memory for the executor container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Engine limits every run is held to.
    #[serde(default)]
    pub limits: EngineLimits,
    /// Where heap snapshots live: exactly one of stateless, local or s3.
    pub storage: Storage,
    /// Embedded raft group replicating session logs and heap tags between replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft: Option<RaftSpec>,
    /// Bearer tokens accepted by the executor (`{"<token>": "<principal>"}` JSON in a Secret key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KeyRef>,
    /// When set, a NetworkPolicy admits only these clients (plus the cluster's own pods and
    /// the operator) to the executor ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<ClientSelector>>,
    /// Selects WasmModules in this namespace to preload into every isolate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_modules: Option<LabelSelector>,
    /// What `fetch()` in sandboxed code may reach and which headers get injected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchPolicy>,
    /// Scheduling and metadata overrides for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodOverrides>,
}

fn default_replicas() -> i32 {
    1
}

/// Engine maxima and defaults, passed to the executor as its limit flags.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.heapMemoryDefaultMb) || self.heapMemoryDefaultMb <= self.heapMemoryMaxMb").message("limits.heapMemoryDefaultMb must not exceed limits.heapMemoryMaxMb"),
    validation = Rule::new("!has(self.executionTimeoutDefaultSecs) || self.executionTimeoutDefaultSecs <= self.executionTimeoutMaxSecs").message("limits.executionTimeoutDefaultSecs must not exceed limits.executionTimeoutMaxSecs"),
)]
pub struct EngineLimits {
    /// Largest V8 heap a run may ask for, in MB (`--heap-memory-max`).
    #[serde(default = "default_heap_mb")]
    #[schemars(range(min = 1, max = 64))]
    pub heap_memory_max_mb: u32,
    /// Longest a run may ask to take, in seconds (`--execution-timeout`).
    #[serde(default = "default_timeout_secs")]
    #[schemars(range(min = 1, max = 300))]
    pub execution_timeout_max_secs: u32,
    /// Heap a run gets when it asks for none, in MB (`--heap-memory-default`); unset lets
    /// the executor decide. At most `heapMemoryMaxMb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4, max = 64))]
    pub heap_memory_default_mb: Option<u32>,
    /// Timeout of a run that asks for none, in seconds (`--execution-timeout-default`);
    /// unset lets the executor decide. At most `executionTimeoutMaxSecs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 300))]
    pub execution_timeout_default_secs: Option<u32>,
    /// Runs executing at once per pod (`--max-concurrent-executions`); unset lets the executor decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub max_concurrent_executions: Option<u32>,
}

fn default_heap_mb() -> u32 {
    8
}

fn default_timeout_secs() -> u32 {
    30
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            heap_memory_max_mb: default_heap_mb(),
            execution_timeout_max_secs: default_timeout_secs(),
            heap_memory_default_mb: None,
            execution_timeout_default_secs: None,
            max_concurrent_executions: None,
        }
    }
}

/// Heap snapshot storage. Exactly one member is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.stateless), has(self.local), has(self.s3)].filter(x, x).size() == 1").message("set exactly one of storage.stateless, storage.local or storage.s3"))]
pub struct Storage {
    /// No heap persistence: every run starts fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless: Option<StatelessStorage>,
    /// Heaps in a directory on a per-pod PersistentVolumeClaim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalStorage>,
    /// Heaps in an S3 bucket with a local write-through cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Storage>,
}

/// Marker for stateless mode (an empty object).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct StatelessStorage {}

/// A PersistentVolumeClaim per pod for the directory heap store.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LocalStorage {
    /// Claim size, a Kubernetes quantity such as `10Gi`.
    #[serde(default = "default_local_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub size: String,
    /// StorageClass of the claim; unset uses the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_local_size() -> String {
    "10Gi".into()
}

/// An S3-compatible bucket holding the heaps.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3Storage {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Endpoint URL, for S3-compatible stores (MinIO, Ceph…); unset uses AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("isURL(self)").message("s3.endpoint must be a URL such as http://minio.storage.svc:9000"))]
    pub endpoint: Option<String>,
    /// Region, passed as AWS_REGION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Key prefix inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Use path-style addressing (most S3-compatible stores need it).
    #[serde(default)]
    pub force_path_style: bool,
    /// Secret with the access key id and secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<S3Credentials>,
    /// Size of the pod-local heap cache (an emptyDir with this sizeLimit), e.g. `2Gi`.
    #[serde(default = "default_cache_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub cache_size: String,
}

fn default_cache_size() -> String {
    "1Gi".into()
}

/// Where the S3 credentials are.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct S3Credentials {
    /// Secret name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key holding the access key id.
    #[serde(default = "default_access_key_key")]
    pub access_key_id_key: String,
    /// Key holding the secret access key.
    #[serde(default = "default_secret_key_key")]
    pub secret_access_key_key: String,
    /// Key holding a session token (temporary credentials); unset means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_key: Option<String>,
}

fn default_access_key_key() -> String {
    "AWS_ACCESS_KEY_ID".into()
}

fn default_secret_key_key() -> String {
    "AWS_SECRET_ACCESS_KEY".into()
}

/// Raft settings. The cluster secret authenticates raft RPCs and member removal.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.electionTimeoutMinMs) || !has(self.electionTimeoutMaxMs) || self.electionTimeoutMinMs < self.electionTimeoutMaxMs").message("raft.electionTimeoutMinMs must be below raft.electionTimeoutMaxMs"),
    validation = Rule::new("!has(self.heartbeatIntervalMs) || !has(self.electionTimeoutMinMs) || self.heartbeatIntervalMs < self.electionTimeoutMinMs").message("raft.heartbeatIntervalMs must be below raft.electionTimeoutMinMs, or followers start elections"),
)]
pub struct RaftSpec {
    /// Form a raft group between the replicas.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Secret key holding the shared cluster secret.
    pub cluster_secret: KeyRef,
    /// Leader heartbeat period in ms (`--heartbeat-interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 10000))]
    pub heartbeat_interval_ms: Option<u32>,
    /// Lower election timeout in ms (`--election-timeout-min`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 60000))]
    pub election_timeout_min_ms: Option<u32>,
    /// Upper election timeout in ms (`--election-timeout-max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 60000))]
    pub election_timeout_max_ms: Option<u32>,
    /// Size of each pod's volume for the raft log and session database.
    #[serde(default = "default_raft_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"))]
    pub storage_size: String,
    /// StorageClass of the raft volume; unset uses the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

fn default_true() -> bool {
    true
}

fn default_raft_size() -> String {
    "1Gi".into()
}

/// Clients admitted by the NetworkPolicy: pods matching both selectors (either may be omitted).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.namespaceSelector) || has(self.podSelector)").message("an allowedClients entry needs a namespaceSelector, a podSelector or both"))]
pub struct ClientSelector {
    /// Namespaces the clients run in; unset means this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Client pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

/// fetch() policy: every request is checked by OPA; matching requests get extra headers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FetchPolicy {
    /// OPA base URL (`--opa-url`); fetch() exists only when this is set.
    #[x_kube(validation = Rule::new("isURL(self)").message("fetch.opaUrl must be a URL such as http://opa.policy.svc:8181"))]
    pub opa_url: String,
    /// Header injection rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_rules: Vec<HeaderRule>,
}

/// Headers injected into fetch() requests to a host.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRule {
    /// Exact host or `*.domain` (which also matches the bare domain).
    #[schemars(length(min = 1))]
    pub host: String,
    /// HTTP methods the rule applies to; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Headers to inject.
    #[schemars(length(min = 1))]
    pub headers: Vec<InjectedHeader>,
}

/// One injected header: a literal value or a Secret key (never copied into a ConfigMap).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.value) != has(self.secretKeyRef)").message("set exactly one of value or secretKeyRef for an injected header"))]
pub struct InjectedHeader {
    /// Header name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Literal, non-secret value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Secret key holding the value; it is mounted as a file into the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
}

/// Pod-level overrides.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Node labels the pods must run on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Tolerations of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Affinity; unset spreads the pods over nodes where possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Extra pod annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Extra pod labels (the operator's own labels win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

impl Storage {
    /// Short name of the storage kind, as shown in status and printer columns.
    pub fn kind(&self) -> &'static str {
        if self.s3.is_some() {
            "s3"
        } else if self.local.is_some() {
            "local"
        } else {
            "stateless"
        }
    }
}

impl McpV8ClusterSpec {
    /// Whether the replicas form a raft group.
    pub fn raft_enabled(&self) -> bool {
        self.raft.as_ref().is_some_and(|r| r.enabled)
    }
}
