//! The McpV8Cluster reconcile loop: render, remove raft voters before a scale-down, apply
//! every owned object, then write status (also when something failed, as Degraded) and
//! publish Events for notable transitions.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::crd::cluster::SelectedModule;
use crate::crd::{McpV8Cluster, McpV8ClusterStatus};

use super::apply::{apply, delete_if_exists};
use super::context::Context;
use super::error::Error;
use super::modules;
use super::naming::{CONFIG_HASH_ANNOTATION, FINALIZER, Names};
use super::render::{ModuleInput, render_with_secrets};
use super::secrets;
use super::status::{Observed, cluster_conditions, is_true};

/// Resource kind, for metrics.
pub const KIND: &str = "McpV8Cluster";

/// What one successful pass produced.
struct Converged {
    sts: StatefulSet,
    modules: Vec<ModuleInput>,
    leader: Option<String>,
}

/// Reconciles one cluster (wrapped in the finalizer).
pub async fn reconcile(cluster: Arc<McpV8Cluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let ns = cluster.namespace().ok_or(Error::MissingObjectKey)?;
    let api: Api<McpV8Cluster> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, cluster, |event| async {
        match event {
            Event::Apply(c) => Box::pin(apply_cluster(&c, &ctx)).await,
            Event::Cleanup(c) => cleanup(&c, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Requeue with backoff-free retry after a failure, and count it.
#[allow(clippy::needless_pass_by_value)] // the signature is kube's Controller::run contract
pub fn error_policy(cluster: Arc<McpV8Cluster>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(KIND, error.metric_label());
    warn!(cluster = %cluster.name_any(), error = %error, "reconcile failed");
    Action::requeue(Duration::from_secs(15))
}

async fn publish(
    ctx: &Context,
    cluster: &McpV8Cluster,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = KubeEvent {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    // Events are informational: failing to publish one must not fail the reconcile.
    if let Err(e) = ctx
        .recorder()
        .publish(&event, &cluster.object_ref(&()))
        .await
    {
        warn!(cluster = %cluster.name_any(), error = %e, "could not publish event");
    }
}

async fn apply_cluster(cluster: &McpV8Cluster, ctx: &Context) -> Result<Action, Error> {
    let names = Names::of(cluster);
    let sts_api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let before = sts_api.get_opt(&names.base).await?;
    let result = converge(cluster, ctx, &names, before.as_ref()).await;
    let (sts, selected, leader, error) = match &result {
        Ok(c) => (Some(&c.sts), c.modules.as_slice(), c.leader.clone(), None),
        Err(e) => (
            before.as_ref(),
            &[][..],
            None,
            Some((reason_of(e), e.to_string())),
        ),
    };
    let observed = observe(cluster, sts, error);
    let previous = cluster.status.clone().unwrap_or_default();
    let conditions =
        cluster_conditions(&previous.conditions, &observed, cluster.metadata.generation);
    let status = McpV8ClusterStatus {
        observed_generation: cluster.metadata.generation,
        replicas: observed.replicas,
        ready_replicas: observed.ready,
        selector: Some(names.selector_string()),
        storage: Some(cluster.spec.storage.kind().into()),
        raft_leader: leader.or_else(|| previous.raft_leader.clone().filter(|_| result.is_err())),
        endpoint: Some(names.endpoint()),
        modules: if result.is_ok() {
            selected
                .iter()
                .map(|m| SelectedModule {
                    name: m.name.clone(),
                    global_name: m.global_name.clone(),
                    sha256: m.sha256.clone(),
                })
                .collect()
        } else {
            previous.modules.clone()
        },
        conditions,
    };
    let was_ready = is_true(&previous.conditions, "Ready");
    let now_ready = is_true(&status.conditions, "Ready");
    let api: Api<McpV8Cluster> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let patched = api
        .patch_status(
            &names.base,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await;
    if was_ready != now_ready {
        let (type_, reason) = if now_ready {
            (EventType::Normal, "Ready")
        } else {
            (EventType::Warning, "NotReady")
        };
        publish(
            ctx,
            cluster,
            type_,
            reason,
            format!("{}/{} replicas ready", observed.ready, observed.desired),
        )
        .await;
    }
    if let Err(e) = &result {
        publish(
            ctx,
            cluster,
            EventType::Warning,
            "ReconcileFailed",
            e.to_string(),
        )
        .await;
    }
    let settled = now_ready && !is_true(&status.conditions, "Progressing");
    result?;
    patched?;
    Ok(Action::requeue(Duration::from_secs(if settled {
        300
    } else {
        10
    })))
}

fn reason_of(e: &Error) -> String {
    match e {
        Error::MissingSecret { .. } => "MissingSecret",
        Error::MemberRemoval { .. } => "MemberRemovalFailed",
        Error::Render(_) => "InvalidSpec",
        _ => "ReconcileError",
    }
    .into()
}

fn observe(
    cluster: &McpV8Cluster,
    sts: Option<&StatefulSet>,
    error: Option<(String, String)>,
) -> Observed {
    let status = sts.and_then(|s| s.status.clone()).unwrap_or_default();
    let generation = sts.and_then(|s| s.metadata.generation);
    Observed {
        desired: cluster.spec.replicas,
        replicas: status.replicas,
        ready: status.ready_replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        rollout_observed: sts.is_some() && status.observed_generation >= generation,
        error,
    }
}

async fn converge(
    cluster: &McpV8Cluster,
    ctx: &Context,
    names: &Names,
    before: Option<&StatefulSet>,
) -> Result<Converged, Error> {
    let (modules, pending) = modules::selected(&ctx.client, cluster).await?;
    if !pending.is_empty() {
        info!(cluster = %names.base, modules = ?pending, "selected modules not verified yet; rolling out without them");
    }
    let secret_refs = secrets::referenced(cluster, &modules);
    let secrets_digest = secrets::digest(&ctx.client, &names.namespace, &secret_refs).await?;
    let desired = render_with_secrets(cluster, &modules, &ctx.settings, &secrets_digest)?;
    let current = before
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let target = cluster.spec.replicas;
    if cluster.spec.raft_enabled() && target >= 1 && current > target {
        remove_members(cluster, ctx, names, current, target).await?;
    }
    if before.is_some() && current != target {
        publish(
            ctx,
            cluster,
            EventType::Normal,
            "Scaling",
            format!("scaling from {current} to {target} replicas"),
        )
        .await;
    }
    let old_hash = before
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(CONFIG_HASH_ANNOTATION).cloned());
    let new_hash = desired
        .statefulset
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(CONFIG_HASH_ANNOTATION).cloned());
    apply::<ServiceAccount>(&ctx.client, &desired.service_account).await?;
    apply::<Service>(&ctx.client, &desired.headless).await?;
    apply::<Service>(&ctx.client, &desired.client).await?;
    apply::<ConfigMap>(&ctx.client, &desired.config).await?;
    let sts = apply::<StatefulSet>(&ctx.client, &desired.statefulset).await?;
    apply::<PodDisruptionBudget>(&ctx.client, &desired.pdb).await?;
    match &desired.network_policy {
        Some(np) => {
            apply::<NetworkPolicy>(&ctx.client, np).await?;
        }
        None => {
            delete_if_exists::<NetworkPolicy>(&ctx.client, &names.namespace, &names.base).await?;
        }
    }
    if old_hash.is_some() && old_hash != new_hash {
        publish(
            ctx,
            cluster,
            EventType::Normal,
            "RollingOut",
            "configuration changed; rolling the pods".into(),
        )
        .await;
    }
    let leader = if cluster.spec.raft_enabled() {
        raft_leader(ctx, names, &sts).await
    } else {
        None
    };
    Ok(Converged {
        sts,
        modules,
        leader,
    })
}

async fn cluster_secret(
    cluster: &McpV8Cluster,
    ctx: &Context,
    names: &Names,
) -> Result<String, Error> {
    let Some(raft) = &cluster.spec.raft else {
        return Err(Error::MissingObjectKey);
    };
    let key_ref = &raft.cluster_secret;
    let missing = || Error::MissingSecret {
        namespace: names.namespace.clone(),
        name: key_ref.name.clone(),
        key: key_ref.key.clone(),
    };
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), &names.namespace)
        .get_opt(&key_ref.name)
        .await?
        .ok_or_else(missing)?;
    let bytes = secret
        .data
        .and_then(|mut d| d.remove(&key_ref.key))
        .ok_or_else(missing)?;
    Ok(String::from_utf8_lossy(&bytes.0).trim().to_string())
}

/// Removes the members on ordinals `target..current`, highest first, asking the surviving
/// members in turn, so the StatefulSet only shrinks once the group no longer counts them.
async fn remove_members(
    cluster: &McpV8Cluster,
    ctx: &Context,
    names: &Names,
    current: i32,
    target: i32,
) -> Result<(), Error> {
    let secret = cluster_secret(cluster, ctx, names).await?;
    for ordinal in (target..current).rev() {
        let node = names.pod(ordinal);
        let mut last = None;
        for via in 0..target {
            match ctx.members.remove(names, via, &node, &secret).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some(source) = last {
            return Err(Error::MemberRemoval { node, source });
        }
        info!(cluster = %names.base, node = %node, "raft member removed before scale-down");
        publish(
            ctx,
            cluster,
            EventType::Normal,
            "RaftMemberRemoved",
            format!("removed {node} from the raft voters"),
        )
        .await;
    }
    Ok(())
}

async fn raft_leader(ctx: &Context, names: &Names, sts: &StatefulSet) -> Option<String> {
    let ready = sts
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let replicas = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    for ordinal in 0..replicas.min(ready.max(1)) {
        match ctx.members.status(names, ordinal).await {
            Ok(status) => return status.leader_pod(names),
            Err(e) => info!(cluster = %names.base, error = %e, "raft status unavailable"),
        }
    }
    None
}

async fn cleanup(cluster: &McpV8Cluster, ctx: &Context) -> Result<Action, Error> {
    // Owned objects go with the cluster through their owner references; claims are kept
    // (retention policy) so heaps and raft data can be recovered.
    publish(
        ctx,
        cluster,
        EventType::Normal,
        "Deleting",
        "deleting the cluster; its volumes are retained".into(),
    )
    .await;
    Ok(Action::await_change())
}
