//! The `local` backend: one redb file inside `--session-db-path`, for a single node.
//! redb calls block (and fsync), so each one runs on tokio's blocking pool.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::db::MetaDb;
use crate::error::MetaError;
use crate::model::{
    Command, NewEntry, Outcome, SessionEntry, Tags, now_rfc3339, validate_heap_id, validate_owner,
};
use crate::store::{MetaStore, require_query};

/// File name of the metadata database inside `--session-db-path` (the executor keeps
/// other files in that directory too).
pub const LOCAL_DB_FILE: &str = "meta.redb";

/// Session logs and tags in a local redb database.
#[derive(Clone)]
pub struct LocalStore {
    db: MetaDb,
    path: PathBuf,
}

impl LocalStore {
    /// Opens or creates `<dir>/meta.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Self, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(LOCAL_DB_FILE);
        Ok(LocalStore {
            db: MetaDb::open(&path)?,
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&MetaDb) -> Result<R, MetaError> + Send + 'static,
    ) -> Result<R, MetaError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| MetaError::Storage(format!("metadata task failed: {e}")))?
    }

    async fn apply(&self, cmd: Command) -> Result<Outcome, MetaError> {
        cmd.validate()?;
        self.blocking(move |db| db.apply(&cmd)).await
    }
}

#[async_trait]
impl MetaStore for LocalStore {
    async fn append_entry(&self, entry: NewEntry) -> Result<u64, MetaError> {
        match self
            .apply(Command::Append {
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
        let owner = owner.map(str::to_string);
        self.blocking(move |db| db.list_sessions(owner.as_deref()))
            .await
    }

    async fn list_entries(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Vec<SessionEntry>, MetaError> {
        validate_owner(owner)?;
        let (s, o) = (session.to_string(), owner.map(str::to_string));
        self.blocking(move |db| db.list_entries(&s, o.as_deref()))
            .await
    }

    async fn last_entry(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Option<SessionEntry>, MetaError> {
        validate_owner(owner)?;
        let (s, o) = (session.to_string(), owner.map(str::to_string));
        self.blocking(move |db| db.last_entry(&s, o.as_deref()))
            .await
    }

    async fn get_tags(&self, heap: &str, owner: Option<&str>) -> Result<Tags, MetaError> {
        validate_heap_id(heap)?;
        validate_owner(owner)?;
        let (h, o) = (heap.to_string(), owner.map(str::to_string));
        self.blocking(move |db| db.get_tags(&h, o.as_deref())).await
    }

    async fn set_tags(&self, heap: &str, tags: Tags, owner: Option<&str>) -> Result<(), MetaError> {
        let cmd = Command::SetTags {
            owner: owner.map(str::to_string),
            heap: heap.to_string(),
            tags,
        };
        self.apply(cmd).await.map(drop)
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
        self.apply(cmd).await.map(drop)
    }

    async fn query_heaps(
        &self,
        tags: &Tags,
        owner: Option<&str>,
    ) -> Result<Vec<String>, MetaError> {
        require_query(tags)?;
        validate_owner(owner)?;
        let (t, o) = (tags.clone(), owner.map(str::to_string));
        self.blocking(move |db| db.query_heaps(&t, o.as_deref()))
            .await
    }

    fn backend(&self) -> &'static str {
        "local"
    }
}
