//! `StoreError`: every way a heap store operation can fail, with messages that tell the
//! operator or the agent what to do, a bounded metric label, and whether retrying helps.

use std::path::PathBuf;

use crate::id::HeapId;

/// Error of a heap store operation.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    #[error(
        "invalid heap id {input:?}: a heap id is 64 lowercase hex characters (the SHA-256 of the snapshot)"
    )]
    InvalidId { input: String },

    #[error("heap {id} not found: check the id, or start a new session without a heap")]
    NotFound { id: HeapId },

    #[error(
        "heap {id} is corrupt ({reason}): it cannot be used; delete it or restore it from a backup"
    )]
    Corrupt { id: HeapId, reason: String },

    #[error(
        "heap {id} was made by another engine build (stored fingerprint {stored:?}, this server {expected:?}): \
         run it on a server with the matching build, or rebuild the session by replaying its code"
    )]
    FingerprintMismatch {
        id: HeapId,
        stored: String,
        expected: String,
    },

    #[error("heap store unavailable ({backend}: {reason}): retry later")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },

    #[error(
        "S3 bucket {bucket:?} does not exist or is not visible: create it or fix --s3-bucket / --s3-endpoint"
    )]
    BucketMissing { bucket: String },

    #[error(
        "S3 refused access to bucket {bucket:?} ({reason}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy"
    )]
    AccessDenied { bucket: String, reason: String },

    #[error("invalid storage configuration: {0}")]
    Config(String),

    #[error("heap store I/O error on {}: {source}; check the directory exists, is writable and has free space", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("unexpected S3 error during {op}: {reason}")]
    S3 { op: &'static str, reason: String },

    #[error("heap store internal error: {0}")]
    Internal(String),
}

impl StoreError {
    /// A bounded label for metrics (`error="…"`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            StoreError::InvalidId { .. } => "invalid_id",
            StoreError::NotFound { .. } => "not_found",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::FingerprintMismatch { .. } => "fingerprint_mismatch",
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::BucketMissing { .. } => "bucket_missing",
            StoreError::AccessDenied { .. } => "access_denied",
            StoreError::Config(_) => "config",
            StoreError::Io { .. } => "io",
            StoreError::S3 { .. } => "s3",
            StoreError::Internal(_) => "internal",
        }
    }

    /// Whether the same call may succeed later without anyone changing anything (S3 down,
    /// timeouts, throttling): the executor maps these to HTTP 503.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(id: &HeapId, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            id: id.clone(),
            reason: reason.into(),
        }
    }
}

/// Runs CPU-heavy work (hashing, compression) off the async runtime.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_retryable() {
        let id = HeapId::of(b"x");
        let unavailable = StoreError::Unavailable {
            backend: "s3",
            reason: "connection refused".into(),
        };
        assert!(unavailable.is_retryable());
        assert_eq!(unavailable.metric_label(), "unavailable");
        assert!(unavailable.to_string().contains("retry later"));
        for e in [
            StoreError::NotFound { id: id.clone() },
            StoreError::corrupt(&id, "bad magic"),
            StoreError::Config("x".into()),
            StoreError::BucketMissing { bucket: "b".into() },
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn messages_name_the_id() {
        let id = HeapId::of(b"x");
        assert!(
            StoreError::NotFound { id: id.clone() }
                .to_string()
                .contains(id.as_str())
        );
        let e = StoreError::corrupt(&id, "hash mismatch");
        assert!(e.to_string().contains(id.as_str()) && e.to_string().contains("hash mismatch"));
    }
}
