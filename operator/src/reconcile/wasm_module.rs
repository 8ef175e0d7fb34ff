//! The WasmModule reconcile loop: fetch and verify the bytes, write digest, size, exports
//! and the Ready condition to status. A bad module is a status (Ready=False with the
//! reason), not a reconcile error: retrying cannot fix it until the spec or source changes.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::crd::{WasmModule, WasmModuleStatus};

use super::context::Context;
use super::error::Error;
use super::module_bytes::{ModuleError, fetch, verify};
use super::status::{condition, is_true, set_condition};

/// Resource kind, for metrics.
pub const KIND: &str = "WasmModule";

/// Reconciles one module.
pub async fn reconcile(module: Arc<WasmModule>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(KIND);
    let ns = module.namespace().ok_or(Error::MissingObjectKey)?;
    let name = module.name_any();
    let generation = module.metadata.generation;
    let outcome = match fetch(&ctx.client, &ctx.http, &ns, &module.spec.source).await {
        Ok((bytes, expected)) => verify(&bytes, expected.as_deref()),
        Err(e) => Err(e),
    };
    let previous = module.status.clone().unwrap_or_default();
    let mut status = WasmModuleStatus {
        observed_generation: generation,
        conditions: previous.conditions.clone(),
        ..WasmModuleStatus::default()
    };
    let requeue = match &outcome {
        Ok(v) => {
            status.sha256 = Some(v.sha256.clone());
            status.size = Some(v.size as i64);
            status.exports = v.exports.clone();
            let msg = format!("verified {} bytes, {} exports", v.size, v.exports.len());
            set_condition(
                &mut status.conditions,
                condition("Ready", true, "Verified", msg, generation),
            );
            // Remote bytes can change behind the URL; re-check now and then.
            Duration::from_secs(600)
        }
        Err(e) => {
            set_condition(
                &mut status.conditions,
                condition("Ready", false, e.metric_label(), e.to_string(), generation),
            );
            if e.is_transient() {
                Duration::from_secs(30)
            } else {
                Duration::from_secs(600)
            }
        }
    };
    let api: Api<WasmModule> = Api::namespaced(ctx.client.clone(), &ns);
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    let digest_changed = previous.sha256 != status.sha256;
    let became_ready = is_true(&status.conditions, "Ready")
        && (!is_true(&previous.conditions, "Ready") || digest_changed);
    let became_bad = outcome.is_err()
        && (is_true(&previous.conditions, "Ready") || previous.conditions.is_empty());
    if became_ready || became_bad {
        publish(&ctx, &module, &outcome).await;
    }
    match &outcome {
        Ok(v) => info!(module = %name, sha256 = %v.sha256, "module verified"),
        Err(e) => warn!(module = %name, reason = e.metric_label(), error = %e, "module not usable"),
    }
    Ok(Action::requeue(requeue))
}

async fn publish(
    ctx: &Context,
    module: &WasmModule,
    outcome: &Result<super::module_bytes::Verified, ModuleError>,
) {
    let (type_, reason, note) = match outcome {
        Ok(v) => (
            EventType::Normal,
            "Verified".to_string(),
            format!("module verified, sha256 {}", v.sha256),
        ),
        Err(e) => (
            EventType::Warning,
            e.metric_label().to_string(),
            e.to_string(),
        ),
    };
    let event = KubeEvent {
        type_,
        reason,
        note: Some(note),
        action: "Verify".into(),
        secondary: None,
    };
    if let Err(e) = ctx
        .recorder()
        .publish(&event, &module.object_ref(&()))
        .await
    {
        warn!(module = %module.name_any(), error = %e, "could not publish event");
    }
}

/// Requeue after an API failure, and count it.
#[allow(clippy::needless_pass_by_value)] // the signature is kube's Controller::run contract
pub fn error_policy(module: Arc<WasmModule>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(KIND, error.metric_label());
    warn!(module = %module.name_any(), error = %error, "reconcile failed");
    Action::requeue(Duration::from_secs(15))
}
