//! `DirStore`: heap objects as files `<dir>/<id>` in a local directory. Writes are atomic
//! (temp file, fsync, rename, fsync of the directory) so a crash never leaves a torn
//! object under a valid id. Also the file layer under the S3 cache.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::error::{StoreError, blocking};
use crate::format::{self, MAX_FINGERPRINT_LEN};
use crate::id::HeapId;
use crate::store::{HeapInfo, HeapStore, StoredHeap};

/// Default directory when no storage flag is given (the original mcp-v8's default).
pub const DEFAULT_DIR: &str = "/tmp/mcp-v8-heaps";
const TMP_PREFIX: &str = ".tmp-";
/// Temp files older than this are leftovers of a crashed writer; younger ones may belong
/// to another process sharing the directory.
const STALE_TMP: Duration = Duration::from_secs(3600);

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A heap store in a local directory.
#[derive(Clone, Debug)]
pub struct DirStore {
    root: PathBuf,
    /// fsync file and directory on write. The cache turns it off: its entries are
    /// re-verified on every read and refetched when torn, so durability buys nothing.
    durable: bool,
}

/// A file in the store as seen by a directory scan (used to rebuild the cache index).
#[derive(Clone, Debug)]
pub(crate) struct DirEntryInfo {
    pub id: HeapId,
    pub len: u64,
    pub modified: SystemTime,
}

impl DirStore {
    /// Opens (creating if missing) the directory `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = path.into();
        fs::create_dir_all(&root).map_err(|e| StoreError::io(&root, e))?;
        if !root.is_dir() {
            return Err(StoreError::Config(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        let store = DirStore {
            root,
            durable: true,
        };
        store.remove_stale_temp_files();
        Ok(store)
    }

    /// The directory holding the objects.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The same directory without fsync on writes (for caches).
    pub(crate) fn without_fsync(mut self) -> Self {
        self.durable = false;
        self
    }

    pub(crate) fn object_path(&self, id: &HeapId) -> PathBuf {
        self.root.join(id.as_str())
    }

    fn remove_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let is_tmp = name.to_str().is_some_and(|n| n.starts_with(TMP_PREFIX));
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > STALE_TMP);
            if is_tmp && old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes an encoded object atomically; returns false when the id already existed.
    pub(crate) fn write_raw_blocking(&self, id: &HeapId, data: &[u8]) -> Result<bool, StoreError> {
        let dest = self.object_path(id);
        if dest.exists() {
            return Ok(false);
        }
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join(format!("{TMP_PREFIX}{id}-{}-{seq}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(data)?;
            if self.durable {
                f.sync_all()?;
            }
            fs::rename(&tmp, &dest)?;
            if self.durable {
                // The rename is durable only once the directory entry is.
                File::open(&self.root)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            StoreError::io(&dest, e)
        })?;
        Ok(true)
    }

    /// Reads an encoded object; `NotFound` if missing.
    pub(crate) fn read_raw_blocking(&self, id: &HeapId) -> Result<Vec<u8>, StoreError> {
        let path = self.object_path(id);
        fs::read(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => StoreError::NotFound { id: id.clone() },
            _ => StoreError::io(&path, e),
        })
    }

    /// Removes an object; returns whether it existed.
    pub(crate) fn remove_blocking(&self, id: &HeapId) -> Result<bool, StoreError> {
        let path = self.object_path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Marks an object as just used (its mtime orders the cache's LRU across restarts).
    pub(crate) fn touch_blocking(&self, id: &HeapId, when: SystemTime) -> Result<(), StoreError> {
        let path = self.object_path(id);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(when))
            .map_err(|e| StoreError::io(&path, e))
    }

    /// Every object file with its size and mtime; foreign files are ignored.
    pub(crate) fn scan_blocking(&self) -> Result<Vec<DirEntryInfo>, StoreError> {
        let entries = fs::read_dir(&self.root).map_err(|e| StoreError::io(&self.root, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&self.root, e))?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<HeapId>().ok())
            else {
                continue;
            };
            // A file removed between read_dir and metadata is simply gone.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                out.push(DirEntryInfo {
                    id,
                    len: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(out)
    }

    pub(crate) fn stat_blocking(
        &self,
        id: &HeapId,
        location: &'static str,
    ) -> Result<HeapInfo, StoreError> {
        let path = self.object_path(id);
        let not_found = |e: std::io::Error| match e.kind() {
            ErrorKind::NotFound => StoreError::NotFound { id: id.clone() },
            _ => StoreError::io(&path, e),
        };
        let file = File::open(&path).map_err(not_found)?;
        let stored_size = file.metadata().map_err(not_found)?.len();
        let mut head = Vec::new();
        file.take((16 + MAX_FINGERPRINT_LEN) as u64)
            .read_to_end(&mut head)
            .map_err(|e| StoreError::io(&path, e))?;
        let header = format::parse_header(id, &head)?;
        Ok(HeapInfo {
            id: id.clone(),
            size: header.raw_len,
            stored_size,
            fingerprint: header.fingerprint,
            compression: header.compression.name(),
            location,
        })
    }
}

#[async_trait::async_trait]
impl HeapStore for DirStore {
    async fn put(&self, bytes: &[u8], fingerprint: &str) -> Result<HeapId, StoreError> {
        let this = self.clone();
        let bytes = bytes.to_vec();
        let fingerprint = fingerprint.to_owned();
        blocking(move || {
            let id = HeapId::of(&bytes);
            // Hashing alone is cheap next to compressing: skip the encode for a known id.
            if this.object_path(&id).exists() {
                return Ok(id);
            }
            let data = format::encode_as(&id, &bytes, &fingerprint)?;
            this.write_raw_blocking(&id, &data)?;
            Ok(id)
        })
        .await
    }

    async fn get(&self, id: &HeapId) -> Result<StoredHeap, StoreError> {
        let this = self.clone();
        let id = id.clone();
        blocking(move || format::decode(&id, &this.read_raw_blocking(&id)?)).await
    }

    async fn exists(&self, id: &HeapId) -> Result<bool, StoreError> {
        let path = self.object_path(id);
        tokio::fs::try_exists(&path)
            .await
            .map_err(|e| StoreError::io(&path, e))
    }

    async fn delete(&self, id: &HeapId) -> Result<(), StoreError> {
        let this = self.clone();
        let id = id.clone();
        blocking(move || this.remove_blocking(&id).map(drop)).await
    }

    async fn list(&self) -> Result<Vec<HeapId>, StoreError> {
        let this = self.clone();
        blocking(move || {
            let mut ids: Vec<HeapId> = this.scan_blocking()?.into_iter().map(|e| e.id).collect();
            ids.sort();
            Ok(ids)
        })
        .await
    }

    async fn stat(&self, id: &HeapId) -> Result<HeapInfo, StoreError> {
        let this = self.clone();
        let id = id.clone();
        blocking(move || this.stat_blocking(&id, "dir")).await
    }

    fn backend(&self) -> &'static str {
        "dir"
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let root = self.root.clone();
        let meta = tokio::fs::metadata(&root)
            .await
            .map_err(|e| StoreError::io(&root, e))?;
        if meta.permissions().readonly() {
            return Err(StoreError::Config(format!(
                "{} is read-only",
                root.display()
            )));
        }
        Ok(())
    }
}
