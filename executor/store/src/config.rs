//! `StoreConfig`: a validated storage configuration, and opening the configured backend
//! (with the startup check that tells "S3 down" from "S3 misconfigured").

use std::path::PathBuf;
use std::sync::Arc;

use tracing::{info, warn};

use crate::cache::CachedStore;
use crate::dir::DirStore;
use crate::error::StoreError;
use crate::s3::{S3Config, S3Store};
use crate::store::HeapStore;

/// A validated storage configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// No heap store: runs never snapshot.
    Stateless,
    Dir {
        path: PathBuf,
    },
    S3 {
        s3: S3Config,
    },
    Cached {
        s3: S3Config,
        cache_dir: PathBuf,
        max_bytes: u64,
    },
}

/// An opened backend, for callers that need more than the `HeapStore` trait (cache
/// statistics, the admin CLI).
#[derive(Clone, Debug)]
pub enum OpenedStore {
    Dir(DirStore),
    S3(S3Store),
    Cached(CachedStore),
}

impl OpenedStore {
    pub fn into_dyn(self) -> Arc<dyn HeapStore> {
        match self {
            OpenedStore::Dir(s) => Arc::new(s),
            OpenedStore::S3(s) => Arc::new(s),
            OpenedStore::Cached(s) => Arc::new(s),
        }
    }

    pub fn as_dyn(&self) -> &dyn HeapStore {
        match self {
            OpenedStore::Dir(s) => s,
            OpenedStore::S3(s) => s,
            OpenedStore::Cached(s) => s,
        }
    }
}

impl StoreConfig {
    /// Opens the store; `None` when stateless. S3 merely unreachable at startup is a
    /// warning (the store reports not-ready until it answers); a missing bucket or
    /// rejected credentials are errors, since waiting will not fix them.
    pub async fn open(&self) -> Result<Option<Arc<dyn HeapStore>>, StoreError> {
        Ok(self.open_backend().await?.map(OpenedStore::into_dyn))
    }

    /// Like `open`, returning the concrete backend.
    pub async fn open_backend(&self) -> Result<Option<OpenedStore>, StoreError> {
        let opened = match self {
            StoreConfig::Stateless => return Ok(None),
            StoreConfig::Dir { path } => OpenedStore::Dir(DirStore::open(path.clone())?),
            StoreConfig::S3 { s3 } => OpenedStore::S3(connect_checked(s3).await?),
            StoreConfig::Cached {
                s3,
                cache_dir,
                max_bytes,
            } => {
                let remote = connect_checked(s3).await?;
                let cache = DirStore::open(cache_dir.clone())?;
                OpenedStore::Cached(CachedStore::open(cache, remote, *max_bytes).await?)
            }
        };
        info!(backend = opened.as_dyn().backend(), "heap store opened");
        Ok(Some(opened))
    }
}

async fn connect_checked(cfg: &S3Config) -> Result<S3Store, StoreError> {
    let store = S3Store::connect(cfg).await?;
    match store.check_ready().await {
        Ok(()) => Ok(store),
        Err(e) if e.is_retryable() => {
            warn!(bucket = %cfg.bucket, error = %e, "S3 unreachable at startup; heap store not ready until it answers");
            Ok(store)
        }
        Err(e) => Err(e),
    }
}
