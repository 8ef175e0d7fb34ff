//! Wires both reconcile loops to watches: clusters are reconciled when they, their
//! StatefulSet or ConfigMap change, and when a WasmModule they select changes (so a new
//! module digest rolls them); modules when they change. Both stop on `shutdown`.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use tracing::{debug, info};

use crate::crd::{McpV8Cluster, WasmModule};
use crate::reconcile::modules::cluster_selects;
use crate::reconcile::{Context, cluster, wasm_module};

/// Runs both controllers until `shutdown` resolves (then lets running reconciles finish).
pub async fn run(
    client: Client,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let clusters = Api::<McpV8Cluster>::all(client.clone());
    let modules = Api::<WasmModule>::all(client.clone());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };

    let cluster_controller = Controller::new(clusters, watcher::Config::default().any_semantic());
    let store = cluster_controller.store();
    let cluster_loop = cluster_controller
        .owns(
            Api::<StatefulSet>::all(client.clone()),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=mcp-v8-operator"),
        )
        .owns(
            Api::<ConfigMap>::all(client.clone()),
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
        .graceful_shutdown_on(stop(rx.clone()))
        .run(cluster::reconcile, cluster::error_policy, ctx.clone())
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => debug!(cluster = %obj.name, "reconciled"),
                Err(e) => debug!(error = %e, "cluster reconcile error"),
            }
        });
    let module_loop = Controller::new(modules, watcher::Config::default().any_semantic())
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
