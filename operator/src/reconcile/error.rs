//! Errors of the reconcile loops. Each message says what the user or operator admin should
//! do; `metric_label` gives the bounded label for the reconcile error counter.

use super::members::MemberError;
use super::render::RenderError;

/// Why a reconcile failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a call.
    #[error(
        "Kubernetes API call failed ({0}); check the operator's RBAC and the API server's health"
    )]
    Kube(#[from] kube::Error),
    /// The spec cannot be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A Secret the spec references is missing or lacks the key.
    #[error(
        "Secret {namespace}/{name} has no key `{key}`: create it or fix the reference in the spec"
    )]
    MissingSecret {
        /// Namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
    /// A raft member could not be removed, so the scale-down waits.
    #[error(
        "cannot remove raft member {node} before scaling down ({source}); the StatefulSet keeps its replicas until removal succeeds"
    )]
    MemberRemoval {
        /// Node id (pod name).
        node: String,
        /// Cause.
        source: MemberError,
    },
    /// The finalizer machinery failed.
    #[error("finalizer handling failed: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    /// An object came from the API without name or namespace.
    #[error(
        "object without name or namespace from the API server; this is a bug, please report it"
    )]
    MissingObjectKey,
}

impl Error {
    /// Bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube_api",
            Self::Render(e) => e.metric_label(),
            Self::MissingSecret { .. } => "missing_secret",
            Self::MemberRemoval { .. } => "member_removal",
            Self::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                _ => "finalizer",
            },
            Self::MissingObjectKey => "missing_object_key",
        }
    }
}
