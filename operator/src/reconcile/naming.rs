//! Names, labels and fixed paths shared by every object rendered for a cluster, so the
//! StatefulSet, Services and policies always agree on them.

use std::collections::BTreeMap;

use crate::crd::McpV8Cluster;

/// Field manager of every server-side apply.
pub const MANAGER: &str = "mcp-v8-operator";
/// Finalizer on McpV8Cluster objects.
pub const FINALIZER: &str = "mcpv8.dev/cleanup";
/// Pod template annotation whose change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "mcpv8.dev/config-hash";
/// Executor HTTP port (MCP, API, probes, cluster admin).
pub const HTTP_PORT: i32 = 8080;
/// Raft RPC port.
pub const RAFT_PORT: i32 = 7000;
/// Name of the executor container.
pub const CONTAINER: &str = "mcp-v8";

/// Where the data volume (session database, heaps, raft log) is mounted.
pub const DATA_DIR: &str = "/var/lib/mcp-v8";
/// Session database and raft data directory.
pub const SESSION_DB_DIR: &str = "/var/lib/mcp-v8/sessions";
/// Heap directory of the local store.
pub const HEAP_DIR: &str = "/var/lib/mcp-v8/heaps";
/// S3 write-through cache.
pub const CACHE_DIR: &str = "/var/cache/mcp-v8";
/// Operator-rendered configuration (ConfigMap).
pub const CONFIG_DIR: &str = "/etc/mcp-v8/config";
/// Auth tokens Secret mount.
pub const AUTH_DIR: &str = "/etc/mcp-v8/auth";
/// Cluster secret mount.
pub const CLUSTER_SECRET_DIR: &str = "/etc/mcp-v8/cluster";
/// Fetch header Secrets, one sub-directory per Secret.
pub const FETCH_SECRETS_DIR: &str = "/etc/mcp-v8/fetch";
/// WASM modules from ConfigMaps/Secrets, one sub-directory per module.
pub const WASM_DIR: &str = "/etc/mcp-v8/wasm";
/// ConfigMap key with the module list.
pub const WASM_CONFIG_KEY: &str = "wasm-config.json";
/// ConfigMap key with the fetch header rules.
pub const FETCH_HEADERS_KEY: &str = "fetch-headers.json";

/// Names of the objects of one cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Namespace of the cluster and of everything rendered for it.
    pub namespace: String,
    /// StatefulSet, client Service, ServiceAccount, PDB and NetworkPolicy name.
    pub base: String,
    /// Headless Service for raft peers.
    pub headless: String,
    /// ConfigMap.
    pub config: String,
}

impl Names {
    /// Names for `cluster` (which must have a name and namespace, as API objects do).
    pub fn of(cluster: &McpV8Cluster) -> Self {
        let base = cluster.metadata.name.clone().unwrap_or_default();
        Self {
            namespace: cluster
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            headless: format!("{base}-peers"),
            config: format!("{base}-config"),
            base,
        }
    }

    /// Labels on everything rendered for the cluster.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector();
        labels.insert("app.kubernetes.io/managed-by".into(), MANAGER.into());
        labels.insert("app.kubernetes.io/component".into(), "executor".into());
        labels
    }

    /// Labels selecting the cluster's pods.
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "mcp-v8".to_string()),
            ("app.kubernetes.io/instance".to_string(), self.base.clone()),
        ])
    }

    /// The selector as a label query string (`a=b,c=d`), for status and list calls.
    pub fn selector_string(&self) -> String {
        self.selector()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Pod name of an ordinal.
    pub fn pod(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.base)
    }

    /// DNS name of the headless Service.
    pub fn headless_fqdn(&self, domain: &str) -> String {
        format!("{}.{}.svc.{domain}", self.headless, self.namespace)
    }

    /// DNS names agents may use for the client Service (the executor's allowed hosts).
    pub fn client_hosts(&self, domain: &str) -> Vec<String> {
        let (b, ns) = (&self.base, &self.namespace);
        vec![
            b.clone(),
            format!("{b}.{ns}"),
            format!("{b}.{ns}.svc"),
            format!("{b}.{ns}.svc.{domain}"),
        ]
    }

    /// Streamable HTTP endpoint of the client Service.
    pub fn endpoint(&self) -> String {
        format!(
            "http://{}.{}.svc:{HTTP_PORT}/mcp",
            self.base, self.namespace
        )
    }
}
