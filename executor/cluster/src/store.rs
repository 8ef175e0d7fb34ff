//! The `MetaStore` trait: what the executor needs from session-log and heap-tag storage,
//! whichever backend (local redb, raft-replicated, etcd) sits behind it.
//!
//! Ownership: `owner` is a namespace. `None` is the anonymous namespace used when
//! authentication is off; `Some(principal)` sees only what that principal wrote. Every
//! call reads or writes exactly one namespace, so one principal never sees another's
//! sessions or tags.

use async_trait::async_trait;

use crate::error::MetaError;
use crate::model::{NewEntry, SessionEntry, Tags};

/// Session logs and heap tags. Used as `Arc<dyn MetaStore>`.
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// Appends an entry to its session's log and returns the entry's index (0, 1, …).
    async fn append_entry(&self, entry: NewEntry) -> Result<u64, MetaError>;

    /// Names of the owner's sessions, sorted.
    async fn list_sessions(&self, owner: Option<&str>) -> Result<Vec<String>, MetaError>;

    /// The owner's entries of exactly this session (no prefix matching), in index order;
    /// empty when the session does not exist.
    async fn list_entries(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Vec<SessionEntry>, MetaError>;

    /// The latest entry of a session, used to resume its newest heap.
    async fn last_entry(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Option<SessionEntry>, MetaError>;

    /// The heap's tags (empty when it has none).
    async fn get_tags(&self, heap: &str, owner: Option<&str>) -> Result<Tags, MetaError>;

    /// Sets or replaces the heap's whole tag map.
    async fn set_tags(&self, heap: &str, tags: Tags, owner: Option<&str>) -> Result<(), MetaError>;

    /// Removes these keys from the heap's tags (missing keys are ignored).
    async fn delete_tags(
        &self,
        heap: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<(), MetaError>;

    /// Heaps whose tags contain every given pair, sorted, answered from an index.
    /// An empty query is refused (it would list every heap).
    async fn query_heaps(&self, tags: &Tags, owner: Option<&str>)
    -> Result<Vec<String>, MetaError>;

    /// Short backend name for logs and metrics: "local", "raft" or "etcd".
    fn backend(&self) -> &'static str;
}

/// Refuses an empty tag query; shared by the backends so they answer alike.
pub(crate) fn require_query(tags: &Tags) -> Result<(), MetaError> {
    if tags.is_empty() {
        return Err(MetaError::InvalidInput(
            "give at least one tag to query by".into(),
        ));
    }
    tags.iter().try_for_each(|(k, v)| {
        crate::model::validate_name("tag key", k)?;
        crate::model::validate_name("tag value", v)
    })
}
