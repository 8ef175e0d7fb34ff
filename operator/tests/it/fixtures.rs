//! Test fixtures: the fake API server, the executor stand-in and an operator Context wired
//! together, plus helpers to create resources and drive reconciles the way the controller
//! does (re-reading the object before each pass).

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, Client};
use mcp_v8_operator::crd::{McpV8Cluster, WasmModule};
use mcp_v8_operator::metrics::Metrics;
use mcp_v8_operator::reconcile::members::MemberEndpoints;
use mcp_v8_operator::reconcile::render::Settings;
use mcp_v8_operator::reconcile::{Context, Error, cluster, wasm_module};
use serde_json::{Value, json};

use super::admin_server::{self, AdminServer};
use super::apiserver::{self, FakeApi};

pub const NS: &str = "ns";
pub const CLUSTERS: &str = "/apis/mcpv8.dev/v1alpha1/namespaces/ns/mcpv8clusters";
pub const MODULES: &str = "/apis/mcpv8.dev/v1alpha1/namespaces/ns/wasmmodules";
pub const STATEFULSETS: &str = "/apis/apps/v1/namespaces/ns/statefulsets";
pub const SERVICES: &str = "/api/v1/namespaces/ns/services";
pub const CONFIGMAPS: &str = "/api/v1/namespaces/ns/configmaps";
pub const SECRETS: &str = "/api/v1/namespaces/ns/secrets";
pub const SERVICEACCOUNTS: &str = "/api/v1/namespaces/ns/serviceaccounts";
pub const PDBS: &str = "/apis/policy/v1/namespaces/ns/poddisruptionbudgets";
pub const NETPOLS: &str = "/apis/networking.k8s.io/v1/namespaces/ns/networkpolicies";

pub const CLUSTER_SECRET: &str = "s3cr3t-raft-token";

pub struct Harness {
    pub client: Client,
    pub api: FakeApi,
    pub admin: AdminServer,
    pub ctx: Arc<Context>,
}

pub async fn harness() -> Harness {
    let (client, api) = apiserver::start();
    let admin = admin_server::start(CLUSTER_SECRET).await;
    let ctx = Arc::new(Context::with_endpoints(
        client.clone(),
        Settings::default(),
        Arc::new(Metrics::new()),
        Some("test".into()),
        MemberEndpoints::Fixed(admin.url.clone()),
    ));
    // The cluster secret every raft example refers to.
    api.put(
        SECRETS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "raft", "namespace": NS},
               "data": {"secret": base64(CLUSTER_SECRET)}}),
    );
    Harness {
        client,
        api,
        admin,
        ctx,
    }
}

pub fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Harness {
    /// Creates a cluster with `spec` as a user would (`kubectl apply`).
    pub fn create_cluster(&self, name: &str, spec: &Value) {
        self.api.put(
            CLUSTERS,
            json!({"apiVersion": "mcpv8.dev/v1alpha1", "kind": "McpV8Cluster",
                   "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1},
                   "spec": spec}),
        );
    }

    /// Changes a cluster's spec and bumps its generation, as the API server would.
    pub fn edit_spec(&self, name: &str, f: impl FnOnce(&mut Value)) {
        self.api.edit(CLUSTERS, name, |o| {
            f(&mut o["spec"]);
            let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
            o["metadata"]["generation"] = json!(g + 1);
        });
    }

    /// One controller pass over cluster `name`.
    pub async fn reconcile(&self, name: &str) -> Result<Action, Error> {
        let obj = Api::<McpV8Cluster>::namespaced(self.client.clone(), NS)
            .get(name)
            .await
            .expect("cluster exists");
        cluster::reconcile(Arc::new(obj), self.ctx.clone()).await
    }

    /// Passes until the finalizer is in place and one apply ran.
    pub async fn reconcile_applied(&self, name: &str) -> Result<Action, Error> {
        let has_finalizer = self
            .api
            .get(CLUSTERS, name)
            .is_some_and(|o| o["metadata"]["finalizers"].is_array());
        if !has_finalizer {
            self.reconcile(name).await?;
        }
        self.reconcile(name).await
    }

    /// One pass over module `name`.
    pub async fn reconcile_module(&self, name: &str) -> Result<Action, Error> {
        let obj = Api::<WasmModule>::namespaced(self.client.clone(), NS)
            .get(name)
            .await
            .expect("module exists");
        wasm_module::reconcile(Arc::new(obj), self.ctx.clone()).await
    }

    pub fn cluster(&self, name: &str) -> Value {
        self.api.get(CLUSTERS, name).expect("cluster exists")
    }

    pub fn statefulset(&self, name: &str) -> Value {
        self.api
            .get(STATEFULSETS, name)
            .expect("statefulset exists")
    }

    /// Plays the StatefulSet controller and kubelet: `ready` of the spec's replicas ready
    /// and on the current revision.
    pub fn set_sts_ready(&self, name: &str, ready: i64) {
        self.api.edit(STATEFULSETS, name, |o| {
            let replicas = o["spec"]["replicas"].as_i64().unwrap_or(1);
            o["status"] = json!({"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas,
                                 "availableReplicas": ready, "observedGeneration": o["metadata"]["generation"]});
        });
    }

    pub fn condition(&self, name: &str, type_: &str) -> Value {
        self.cluster(name)["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
            .unwrap_or(Value::Null)
    }
}

/// A stateless one-replica spec.
pub fn stateless() -> Value {
    json!({"image": "ghcr.io/mcp-v8/mcp-v8:0.1.0", "replicas": 1, "storage": {"stateless": {}}})
}

/// A raft + S3 spec with `replicas`.
pub fn raft_s3(replicas: i64) -> Value {
    json!({"image": "ghcr.io/mcp-v8/mcp-v8:0.1.0", "replicas": replicas,
           "storage": {"s3": {"bucket": "heaps", "endpoint": "http://minio.storage:9000", "forcePathStyle": true,
                              "cacheSize": "2Gi", "credentialsSecret": {"name": "s3"}}},
           "raft": {"clusterSecret": {"name": "raft", "key": "secret"}}})
}
