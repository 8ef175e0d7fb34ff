//! The `local` backend: one redb file inside `--session-db-path`, for a single node.
//! Writes apply directly to the database; reads need no barrier.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::db::MetaDb;
use crate::db_store::{DbAccess, DbStore};
use crate::error::MetaError;
use crate::model::{Command, Outcome};

/// File name of the metadata database inside `--session-db-path` (the executor keeps
/// other files in that directory too).
pub const LOCAL_DB_FILE: &str = "meta.redb";

/// Session logs and tags in a local redb database.
pub type LocalStore = DbStore<LocalDb>;

/// The database of a [`LocalStore`].
#[derive(Clone)]
pub struct LocalDb {
    db: MetaDb,
    path: PathBuf,
}

impl LocalStore {
    /// Opens or creates `<dir>/meta.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Self, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(LOCAL_DB_FILE);
        Ok(DbStore(LocalDb {
            db: MetaDb::open(&path)?,
            path,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }
}

#[async_trait]
impl DbAccess for LocalDb {
    const BACKEND: &'static str = "local";

    async fn write(&self, cmd: Command) -> Result<Outcome, MetaError> {
        cmd.validate()?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.apply(&cmd))
            .await
            .map_err(|e| MetaError::Storage(format!("metadata task failed: {e}")))?
    }

    async fn readable(&self) -> Result<MetaDb, MetaError> {
        Ok(self.db.clone())
    }
}
