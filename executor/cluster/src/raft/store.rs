//! `RaftStore`: the `MetaStore` of a raft member. Writes go through the leader and
//! return once committed and applied here; every read first passes a read barrier
//! (read-index through the leader), so `list_*` and `get_*` are linearizable on any
//! member.

use std::sync::Arc;

use async_trait::async_trait;

use super::node::RaftNode;
use crate::db::MetaDb;
use crate::error::MetaError;
use crate::model::{
    Command, NewEntry, Outcome, SessionEntry, Tags, now_rfc3339, validate_heap_id, validate_owner,
};
use crate::store::{MetaStore, require_query};

#[derive(Clone)]
pub struct RaftStore {
    node: Arc<RaftNode>,
}

impl RaftStore {
    pub fn new(node: Arc<RaftNode>) -> Self {
        RaftStore { node }
    }

    pub fn node(&self) -> &Arc<RaftNode> {
        &self.node
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&MetaDb) -> Result<R, MetaError> + Send + 'static,
    ) -> Result<R, MetaError> {
        self.node.read_barrier().await?;
        let db = self.node.db().clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| MetaError::Storage(format!("metadata task failed: {e}")))?
    }
}

#[async_trait]
impl MetaStore for RaftStore {
    async fn append_entry(&self, entry: NewEntry) -> Result<u64, MetaError> {
        match self
            .node
            .write(Command::Append {
                entry,
                timestamp: now_rfc3339(),
            })
            .await?
        {
            Outcome::Appended { index } => Ok(index),
            Outcome::Done | Outcome::Batch { .. } => {
                Err(MetaError::Storage("append produced no index".into()))
            }
        }
    }

    async fn list_sessions(&self, owner: Option<&str>) -> Result<Vec<String>, MetaError> {
        validate_owner(owner)?;
        let o = owner.map(str::to_string);
        self.read(move |db| db.list_sessions(o.as_deref())).await
    }

    async fn list_entries(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Vec<SessionEntry>, MetaError> {
        validate_owner(owner)?;
        let (s, o) = (session.to_string(), owner.map(str::to_string));
        self.read(move |db| db.list_entries(&s, o.as_deref())).await
    }

    async fn last_entry(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Option<SessionEntry>, MetaError> {
        validate_owner(owner)?;
        let (s, o) = (session.to_string(), owner.map(str::to_string));
        self.read(move |db| db.last_entry(&s, o.as_deref())).await
    }

    async fn get_tags(&self, heap: &str, owner: Option<&str>) -> Result<Tags, MetaError> {
        validate_heap_id(heap)?;
        validate_owner(owner)?;
        let (h, o) = (heap.to_string(), owner.map(str::to_string));
        self.read(move |db| db.get_tags(&h, o.as_deref())).await
    }

    async fn set_tags(&self, heap: &str, tags: Tags, owner: Option<&str>) -> Result<(), MetaError> {
        let cmd = Command::SetTags {
            owner: owner.map(str::to_string),
            heap: heap.to_string(),
            tags,
        };
        self.node.write(cmd).await.map(drop)
    }

    async fn delete_tags(
        &self,
        heap: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<(), MetaError> {
        let cmd = Command::DeleteTags {
            owner: owner.map(str::to_string),
            heap: heap.to_string(),
            keys: keys.to_vec(),
        };
        self.node.write(cmd).await.map(drop)
    }

    async fn query_heaps(
        &self,
        tags: &Tags,
        owner: Option<&str>,
    ) -> Result<Vec<String>, MetaError> {
        require_query(tags)?;
        validate_owner(owner)?;
        let (t, o) = (tags.clone(), owner.map(str::to_string));
        self.read(move |db| db.query_heaps(&t, o.as_deref())).await
    }

    fn backend(&self) -> &'static str {
        "raft"
    }
}
