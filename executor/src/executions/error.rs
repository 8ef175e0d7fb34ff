//! `ExecError`: every way a request to the execution service can fail, with the HTTP
//! status of the interface contract and a bounded metric label.

use mcp_v8_cluster::MetaError;
use mcp_v8_store::StoreError;

use crate::pool::PoolError;
use crate::registry::RegistryError;
use crate::runner::RunError;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ExecError {
    /// The status `/api/*` answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            ExecError::InvalidArgument(_) => 400,
            ExecError::NotFound(_) => 404,
            ExecError::Run(RunError::InvalidArgument(_) | RunError::StatelessHeap) => 400,
            ExecError::Run(RunError::Store(e)) => store_status(e),
            ExecError::Run(RunError::Pool(PoolError::Busy { .. })) => 429,
            ExecError::Run(RunError::Pool(_)) => 503,
            ExecError::Meta(e) => e.http_status(),
            ExecError::Registry(_) => 500,
        }
    }

    pub fn metric_label(&self) -> &'static str {
        match self {
            ExecError::InvalidArgument(_) => "invalid_argument",
            ExecError::NotFound(_) => "not_found",
            ExecError::Run(e) => e.metric_label(),
            ExecError::Meta(e) => e.metric_label(),
            ExecError::Registry(_) => "registry",
        }
    }
}

fn store_status(e: &StoreError) -> u16 {
    match e {
        StoreError::InvalidId { .. } => 400,
        StoreError::NotFound { .. } => 404,
        StoreError::FingerprintMismatch { .. } => 409,
        StoreError::Unavailable { .. }
        | StoreError::BucketMissing { .. }
        | StoreError::AccessDenied { .. }
        | StoreError::Io { .. }
        | StoreError::S3 { .. } => 503,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        let bad_heap = ExecError::Run(RunError::Store(StoreError::InvalidId {
            input: "../../etc/passwd".into(),
        }));
        assert_eq!(bad_heap.http_status(), 400);
        assert_eq!(
            ExecError::Run(RunError::Pool(PoolError::Busy { queued: 3 })).http_status(),
            429
        );
        let down = ExecError::Run(RunError::Store(StoreError::Unavailable {
            backend: "s3",
            reason: "connection refused".into(),
        }));
        assert_eq!(
            (down.http_status(), down.metric_label()),
            (503, "unavailable")
        );
        assert_eq!(ExecError::NotFound("x".into()).http_status(), 404);
    }
}
