//! `CachedStore`: a bounded local directory in front of S3.
//!
//! Write-through (put writes the cache, then S3; both must succeed) and read-through (get
//! tries the cache, then S3, then fills the cache). Every read re-verifies the hash: a
//! corrupt cache entry is evicted and refetched, a corrupt S3 object is an error. The
//! cache is bounded by bytes with LRU eviction; recency lives in file mtimes so the
//! order survives restarts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tracing::{debug, warn};

use crate::dir::DirStore;
use crate::error::{StoreError, blocking};
use crate::format;
use crate::id::HeapId;
use crate::lru::LruIndex;
use crate::s3::S3Store;
use crate::store::{HeapInfo, HeapStore, StoredHeap};

/// Default bound of the cache directory: 1 GiB.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 1 << 30;

/// Counters and size of the local cache (for metrics and the admin CLI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: u64,
    pub max_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Cache entries found corrupt and dropped.
    pub corrupt: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    corrupt: AtomicU64,
}

/// A local directory cache in front of an S3 store.
#[derive(Clone, Debug)]
pub struct CachedStore {
    cache: DirStore,
    remote: S3Store,
    max_bytes: u64,
    index: Arc<Mutex<LruIndex>>,
    counters: Arc<Counters>,
}

impl CachedStore {
    /// Opens the cache directory and rebuilds its LRU index from the files in it (oldest
    /// mtime first), evicting down to `max_bytes` if the bound shrank.
    pub async fn open(
        cache: DirStore,
        remote: S3Store,
        max_bytes: u64,
    ) -> Result<Self, StoreError> {
        let cache = cache.without_fsync();
        let scan_dir = cache.clone();
        let mut files = blocking(move || scan_dir.scan_blocking()).await?;
        files.sort_by_key(|f| f.modified);
        let index = LruIndex::from_oldest_first(files.into_iter().map(|f| (f.id, f.len)));
        let store = CachedStore {
            cache,
            remote,
            max_bytes,
            index: Arc::new(Mutex::new(index)),
            counters: Arc::default(),
        };
        let evicted = store.lock().evict_to(max_bytes);
        store.remove_files(evicted).await;
        Ok(store)
    }

    /// The S3 store behind the cache.
    pub fn remote(&self) -> &S3Store {
        &self.remote
    }

    /// The local cache directory.
    pub fn cache(&self) -> &DirStore {
        &self.cache
    }

    pub fn stats(&self) -> CacheStats {
        let (entries, bytes) = {
            let index = self.lock();
            (index.len(), index.total_bytes())
        };
        CacheStats {
            entries,
            bytes,
            max_bytes: self.max_bytes,
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            corrupt: self.counters.corrupt.load(Ordering::Relaxed),
        }
    }

    /// Whether `id` is in the local cache.
    pub fn is_cached(&self, id: &HeapId) -> bool {
        self.lock().contains(id)
    }

    fn lock(&self) -> MutexGuard<'_, LruIndex> {
        // The index holds no invariant a panicking holder could break halfway.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores an encoded object in the cache and evicts down to the bound. An object
    /// larger than the whole cache is not cached.
    async fn fill(&self, id: &HeapId, data: Arc<Vec<u8>>) -> Result<(), StoreError> {
        let size = data.len() as u64;
        if size > self.max_bytes {
            debug!(heap = %id, size, max = self.max_bytes, "heap larger than the cache, not cached");
            return Ok(());
        }
        let cache = self.cache.clone();
        let write_id = id.clone();
        blocking(move || cache.write_raw_blocking(&write_id, &data)).await?;
        let evicted = {
            let mut index = self.lock();
            index.insert(id.clone(), size);
            index.evict_to(self.max_bytes)
        };
        self.remove_files(evicted).await;
        Ok(())
    }

    async fn remove_files(&self, ids: Vec<HeapId>) {
        if ids.is_empty() {
            return;
        }
        self.counters
            .evictions
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        let cache = self.cache.clone();
        let result = blocking(move || {
            for id in &ids {
                cache.remove_blocking(id)?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = result {
            warn!(error = %e, "could not remove evicted cache files");
        }
    }

    /// Reads and verifies the cached copy; `None` on a miss, or when the copy was
    /// unusable (it is then dropped, so the caller refetches).
    async fn get_cached(&self, id: &HeapId) -> Option<StoredHeap> {
        if !self.lock().contains(id) {
            return None;
        }
        let cache = self.cache.clone();
        let read_id = id.clone();
        let result = blocking(move || {
            let heap = format::decode(&read_id, &cache.read_raw_blocking(&read_id)?)?;
            // Recency for the next restart; best effort.
            let _ = cache.touch_blocking(&read_id, SystemTime::now());
            Ok(heap)
        })
        .await;
        match result {
            Ok(heap) => {
                self.lock().touch(id);
                Some(heap)
            }
            Err(e) => {
                if matches!(e, StoreError::Corrupt { .. }) {
                    self.counters.corrupt.fetch_add(1, Ordering::Relaxed);
                    warn!(heap = %id, error = %e, "corrupt cache entry dropped, refetching from S3");
                } else if !matches!(e, StoreError::NotFound { .. }) {
                    warn!(heap = %id, error = %e, "cache read failed, refetching from S3");
                }
                self.lock().remove(id);
                let cache = self.cache.clone();
                let id = id.clone();
                let _ = blocking(move || cache.remove_blocking(&id)).await;
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl HeapStore for CachedStore {
    async fn put(&self, bytes: &[u8], fingerprint: &str) -> Result<HeapId, StoreError> {
        let bytes = bytes.to_vec();
        let fingerprint = fingerprint.to_owned();
        let (id, data) = blocking(move || format::encode(&bytes, &fingerprint)).await?;
        let data = Arc::new(data);
        self.fill(&id, data.clone()).await?;
        // The S3 write is what makes the heap visible to other replicas: it must succeed.
        // A cache entry left behind by a failed upload is harmless (it is valid content).
        self.remote.put_raw(&id, data.to_vec()).await?;
        Ok(id)
    }

    async fn get(&self, id: &HeapId) -> Result<StoredHeap, StoreError> {
        if let Some(heap) = self.get_cached(id).await {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(heap);
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let data = self.remote.get_raw(id).await?;
        let verify_id = id.clone();
        let (heap, data) = blocking(move || {
            let heap = format::decode(&verify_id, &data)?;
            Ok((heap, data))
        })
        .await?;
        if let Err(e) = self.fill(id, Arc::new(data)).await {
            warn!(heap = %id, error = %e, "could not write the cache; serving from S3");
        }
        Ok(heap)
    }

    async fn exists(&self, id: &HeapId) -> Result<bool, StoreError> {
        if self.lock().contains(id) {
            return Ok(true);
        }
        self.remote.exists(id).await
    }

    async fn delete(&self, id: &HeapId) -> Result<(), StoreError> {
        self.remote.delete(id).await?;
        self.lock().remove(id);
        let cache = self.cache.clone();
        let id = id.clone();
        blocking(move || cache.remove_blocking(&id).map(drop)).await
    }

    async fn list(&self) -> Result<Vec<HeapId>, StoreError> {
        // S3 is the source of truth; the cache only holds copies.
        self.remote.list().await
    }

    async fn stat(&self, id: &HeapId) -> Result<HeapInfo, StoreError> {
        if self.lock().contains(id) {
            let cache = self.cache.clone();
            let stat_id = id.clone();
            if let Ok(info) = blocking(move || cache.stat_blocking(&stat_id, "cache")).await {
                return Ok(info);
            }
        }
        self.remote.stat(id).await
    }

    fn backend(&self) -> &'static str {
        "cached"
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        self.remote.check_ready().await
    }
}
