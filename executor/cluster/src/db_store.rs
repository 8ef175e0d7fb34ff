//! The `MetaStore` of every backend built on [`MetaDb`] (`local`, `raft`): they differ
//! only in how a write is committed and when the database may be read, which
//! [`DbAccess`] says; argument checks and queries are written once, here.

use async_trait::async_trait;

use crate::db::MetaDb;
use crate::error::MetaError;
use crate::model::{
    Command, NewEntry, Outcome, SessionEntry, Tags, now_rfc3339, validate_heap_id, validate_owner,
};
use crate::store::{MetaStore, require_query};

/// How a backend commits writes and reaches its database for reads.
#[async_trait]
pub trait DbAccess: Send + Sync + 'static {
    /// `MetaStore::backend` of this backend (a metric label).
    const BACKEND: &'static str;

    /// Commits `cmd` (validated by the implementation) and returns its outcome.
    async fn write(&self, cmd: Command) -> Result<Outcome, MetaError>;

    /// The database, once reading it is consistent (raft: after a read barrier).
    async fn readable(&self) -> Result<MetaDb, MetaError>;
}

/// A [`MetaStore`] over a [`DbAccess`].
#[derive(Clone)]
pub struct DbStore<A>(pub(crate) A);

impl<A: DbAccess> DbStore<A> {
    /// redb calls block (and fsync), so each one runs on tokio's blocking pool.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&MetaDb) -> Result<R, MetaError> + Send + 'static,
    ) -> Result<R, MetaError> {
        let db = self.0.readable().await?;
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| MetaError::Storage(format!("metadata task failed: {e}")))?
    }
}

#[async_trait]
impl<A: DbAccess> MetaStore for DbStore<A> {
    async fn append_entry(&self, entry: NewEntry) -> Result<u64, MetaError> {
        let cmd = Command::Append {
            entry,
            timestamp: now_rfc3339(),
        };
        match self.0.write(cmd).await? {
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
        self.0.write(cmd).await.map(drop)
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
        self.0.write(cmd).await.map(drop)
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
        A::BACKEND
    }
}
