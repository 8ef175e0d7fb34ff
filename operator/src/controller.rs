//! Wires both reconcile loops to watches: clusters are reconciled when they, their
//! StatefulSet or ConfigMap change, when a WasmModule they select changes (so a new
//! module digest rolls them) and when a Secret they refer to changes (so a new Secret value
//! rolls them); modules when they or the Secret holding their bytes or S3 credentials
//! change. Every watch is cluster-wide, or limited to one namespace when `namespace` is
//! set (the chart's namespaced mode, with RBAC only there). Both stop on `shutdown`.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, info};

use crate::crd::{McpV8Cluster, WasmModule};
use crate::reconcile::modules::cluster_selects;
use crate::reconcile::secrets::referenced_names;
use crate::reconcile::{Context, cluster, wasm_module};

/// An API over every namespace, or over `namespace` only.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Whether `module` reads `secret` (its bytes, or the credentials of its S3 source).
fn module_reads(module: &WasmModule, secret: &Secret) -> bool {
    let src = &module.spec.source;
    let name = secret.name_any();
    module.namespace() == secret.namespace()
        && (src.secret.as_ref().is_some_and(|s| s.key_ref.name == name)
            || src
                .s3
                .as_ref()
                .and_then(|s| s.credentials_secret.as_ref())
                .is_some_and(|c| c.name == name))
}

/// Runs both controllers until `shutdown` resolves (then lets running reconciles finish).
/// With `namespace`, only objects in that namespace are watched.
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = namespace.as_deref();
    let clusters = scoped::<McpV8Cluster>(&client, ns);
    let modules = scoped::<WasmModule>(&client, ns);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let cluster_controller = Controller::new(clusters, watcher::Config::default().any_semantic());
    let store = cluster_controller.store();
    let secret_store = store.clone();
    let cluster_loop = cluster_controller
        .owns(
            scoped::<StatefulSet>(&client, ns),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=mcp-v8-operator"),
        )
        .owns(
            scoped::<ConfigMap>(&client, ns),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=mcp-v8-operator"),
        )
        .watches(
            modules.clone(),
            watcher::Config::default(),
            move |module: WasmModule| {
                store
                    .state()
                    .into_iter()
                    .filter(|c| cluster_selects(c, &module))
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            scoped::<Secret>(&client, ns),
            watcher::Config::default(),
            move |secret: Secret| {
                secret_store
                    .state()
                    .into_iter()
                    .filter(|c| {
                        c.namespace() == secret.namespace()
                            && referenced_names(c).contains(&secret.name_any())
                    })
                    .map(|c| ObjectRef::from_obj(c.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(stop(rx.clone()))
        .run(cluster::reconcile, cluster::error_policy, ctx.clone())
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(cluster = %obj.name, "reconciled"),
                Err(e) => debug!(error = %e, "cluster reconcile error"),
            }
        });
    let module_controller = Controller::new(modules, watcher::Config::default().any_semantic());
    let module_store = module_controller.store();
    let module_loop = module_controller
        .watches(
            scoped::<Secret>(&client, ns),
            watcher::Config::default(),
            move |secret: Secret| {
                module_store
                    .state()
                    .into_iter()
                    .filter(|m| module_reads(m, &secret))
                    .map(|m| ObjectRef::from_obj(m.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(stop(rx))
        .run(wasm_module::reconcile, wasm_module::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(module = %obj.name, "reconciled"),
                Err(e) => debug!(error = %e, "module reconcile error"),
            }
        });
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down controllers");
        let _ = tx.send(true);
    });
    tokio::join!(cluster_loop, module_loop);
}
