//! The one error type of the metadata layer: every backend (local, raft, etcd) and the
//! HTTP API map their failures onto it, so callers handle one set of outcomes.

use thiserror::Error;

/// What can go wrong reading or writing session logs and heap tags.
#[derive(Debug, Error, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum MetaError {
    #[error("invalid heap id {0:?}: a heap id is 64 lowercase hex characters (a SHA-256)")]
    InvalidHeapId(String),
    #[error("invalid request: {0}")]
    InvalidInput(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("metadata database failed: {0}; check the disk under --session-db-path")]
    Storage(String),
    #[error("cluster unavailable: {0}; retry once a leader is elected and a quorum of nodes is up")]
    Unavailable(String),
    #[error(
        "timed out waiting for the cluster to commit: {0}; retry, and check that a quorum of nodes is up"
    )]
    Timeout(String),
    #[error("unauthorized: {0}; pass the cluster secret as `Authorization: Bearer <secret>`")]
    Unauthorized(String),
    #[error("etcd request failed: {0}; check --etcd-endpoints and that etcd is healthy")]
    Etcd(String),
}

impl MetaError {
    /// A bounded label for metrics (one per variant, never data from the request).
    pub fn metric_label(&self) -> &'static str {
        match self {
            MetaError::InvalidHeapId(_) => "invalid_heap_id",
            MetaError::InvalidInput(_) => "invalid_input",
            MetaError::NotFound(_) => "not_found",
            MetaError::Storage(_) => "storage",
            MetaError::Unavailable(_) => "unavailable",
            MetaError::Timeout(_) => "timeout",
            MetaError::Unauthorized(_) => "unauthorized",
            MetaError::Etcd(_) => "etcd",
        }
    }

    /// The HTTP status the JSON API answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            MetaError::InvalidHeapId(_) | MetaError::InvalidInput(_) => 400,
            MetaError::Unauthorized(_) => 401,
            MetaError::NotFound(_) => 404,
            MetaError::Timeout(_) => 504,
            MetaError::Unavailable(_) | MetaError::Etcd(_) => 503,
            MetaError::Storage(_) => 500,
        }
    }
}

impl From<redb::Error> for MetaError {
    fn from(e: redb::Error) -> Self {
        MetaError::Storage(e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MetaError {
            fn from(e: $t) -> Self {
                MetaError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded_and_statuses_match() {
        let e = MetaError::InvalidHeapId("../../etc/passwd".into());
        assert_eq!(e.metric_label(), "invalid_heap_id");
        assert_eq!(e.http_status(), 400);
        assert!(e.to_string().contains("64 lowercase hex"));
        assert_eq!(MetaError::Timeout("x".into()).http_status(), 504);
        assert_eq!(MetaError::Unauthorized("x".into()).http_status(), 401);
    }
}
