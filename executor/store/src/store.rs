//! The `HeapStore` seam: what every backend (dir, s3, cached) offers, and the helpers the
//! executor uses on top of it.

use crate::error::StoreError;
use crate::id::HeapId;

/// A heap snapshot read back from a store, verified against its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHeap {
    /// The uncompressed snapshot bytes; `HeapId::of(&bytes)` is the id it was read under.
    pub bytes: Vec<u8>,
    /// The engine fingerprint recorded when the snapshot was stored.
    pub fingerprint: String,
}

/// What `stat` reports about one stored object (read from its header, not verified).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HeapInfo {
    pub id: HeapId,
    /// Uncompressed snapshot size in bytes.
    pub size: u64,
    /// Size of the stored object (header + compressed payload).
    pub stored_size: u64,
    pub fingerprint: String,
    /// "none" | "zstd".
    pub compression: &'static str,
    /// Where the object was found: "dir" | "s3" | "cache".
    pub location: &'static str,
}

/// A content-addressed store of heap snapshots. Objects are immutable: the id is the
/// SHA-256 of the bytes, so a second put of the same bytes is a no-op.
#[async_trait::async_trait]
pub trait HeapStore: Send + Sync + 'static {
    /// Stores `bytes` with the engine `fingerprint`; returns `HeapId::of(bytes)`.
    /// An id that already exists is skipped (its first fingerprint stays).
    async fn put(&self, bytes: &[u8], fingerprint: &str) -> Result<HeapId, StoreError>;

    /// Reads and verifies a heap: `NotFound`, `Corrupt` and `Unavailable` are distinct.
    async fn get(&self, id: &HeapId) -> Result<StoredHeap, StoreError>;

    async fn exists(&self, id: &HeapId) -> Result<bool, StoreError>;

    /// Removes a heap; deleting a missing heap is not an error.
    async fn delete(&self, id: &HeapId) -> Result<(), StoreError>;

    /// Every id in the store, sorted (for the admin CLI and retention).
    async fn list(&self) -> Result<Vec<HeapId>, StoreError>;

    /// Header facts about one heap, without verifying its content.
    async fn stat(&self, id: &HeapId) -> Result<HeapInfo, StoreError>;

    /// Backend name, usable as a metric label: "dir" | "s3" | "cached".
    fn backend(&self) -> &'static str;

    /// Whether the store can serve requests now (for `/readyz`): S3 reachable, bucket
    /// present, credentials accepted.
    async fn check_ready(&self) -> Result<(), StoreError>;
}

/// `get` plus a fingerprint check: a heap made by another engine build is
/// `StoreError::FingerprintMismatch`, never silently loaded.
pub async fn get_matching(
    store: &dyn HeapStore,
    id: &HeapId,
    fingerprint: &str,
) -> Result<StoredHeap, StoreError> {
    let heap = store.get(id).await?;
    if heap.fingerprint != fingerprint {
        return Err(StoreError::FingerprintMismatch {
            id: id.clone(),
            stored: heap.fingerprint,
            expected: fingerprint.to_owned(),
        });
    }
    Ok(heap)
}
