//! The write-through S3 cache: the shared suite, hit/miss, LRU eviction that survives a
//! restart, corrupt entries, and serving from a warm cache while S3 is down.

use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use mcp_v8_store::{
    CachedStore, DirStore, HeapId, HeapStore, S3Config, S3Store, StoreConfig, StoreError,
};

use crate::suite::{self, snapshot};
use mcp_v8_store::testing::Moto;

async fn open(cfg: &S3Config, dir: &Path, max_bytes: u64) -> CachedStore {
    let remote = S3Store::connect(cfg).await.unwrap();
    CachedStore::open(DirStore::open(dir).unwrap(), remote, max_bytes)
        .await
        .unwrap()
}

fn stored_len(dir: &Path, id: &HeapId) -> u64 {
    std::fs::metadata(dir.join(id.as_str())).unwrap().len()
}

#[tokio::test]
async fn cached_store_passes_the_shared_suite() {
    let moto = Moto::shared();
    let bucket = moto.bucket("cache-suite").await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&moto.config(&bucket), tmp.path(), 64 << 20).await;
    assert_eq!(store.backend(), "cached");
    suite::run_all(Arc::new(store), 300).await;
}

#[tokio::test]
async fn write_through_then_hit_and_read_through_on_miss() {
    let moto = Moto::shared();
    let bucket = moto.bucket("hitmiss").await;
    let cfg = moto.config(&bucket);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(&cfg, dir_a.path(), 64 << 20).await;
    let bytes = snapshot(1, 200_000);
    let id = a.put(&bytes, "fp").await.unwrap();
    // Write-through: in the local cache and in S3.
    assert!(a.is_cached(&id) && dir_a.path().join(id.as_str()).is_file());
    assert!(a.remote().exists(&id).await.unwrap());
    assert_eq!(a.get(&id).await.unwrap().bytes, bytes);
    assert_eq!((a.stats().hits, a.stats().misses), (1, 0));
    assert_eq!(a.stat(&id).await.unwrap().location, "cache");

    // A second instance (another pod, own cache) reads through S3 once, then hits.
    let b = open(&cfg, dir_b.path(), 64 << 20).await;
    assert_eq!(b.stat(&id).await.unwrap().location, "s3");
    assert_eq!(b.get(&id).await.unwrap().bytes, bytes);
    assert_eq!((b.stats().hits, b.stats().misses), (0, 1));
    assert!(b.is_cached(&id));
    assert_eq!(b.get(&id).await.unwrap().bytes, bytes);
    assert_eq!((b.stats().hits, b.stats().misses), (1, 1));
    assert_eq!(b.stats().bytes, stored_len(dir_b.path(), &id));
}

#[tokio::test]
async fn lru_eviction_keeps_recently_used() {
    let moto = Moto::shared();
    let bucket = moto.bucket("evict").await;
    let tmp = tempfile::tempdir().unwrap();
    let heaps: Vec<Vec<u8>> = (0..3).map(|s| snapshot(10 + s, 100_000)).collect();
    // Probe the stored size of one object to size the cache for exactly two.
    let probe_dir = tempfile::tempdir().unwrap();
    let probe = open(&moto.config(&bucket), probe_dir.path(), 1 << 30).await;
    let probe_id = probe.put(&heaps[0], "fp").await.unwrap();
    let one = probe.stats().bytes;
    assert!(one > 0 && probe.is_cached(&probe_id));

    let store = open(&moto.config(&bucket), tmp.path(), one * 2 + one / 2).await;
    let a = store.put(&heaps[0], "fp").await.unwrap();
    let b = store.put(&heaps[1], "fp").await.unwrap();
    store.get(&a).await.unwrap(); // a is now more recent than b
    let c = store.put(&heaps[2], "fp").await.unwrap();
    assert!(store.is_cached(&a) && store.is_cached(&c));
    assert!(
        !store.is_cached(&b) && !tmp.path().join(b.as_str()).exists(),
        "b was least recently used"
    );
    assert_eq!(store.stats().evictions, 1);
    assert!(store.stats().bytes <= store.stats().max_bytes);
    // The evicted heap is still in S3 and comes back through the cache.
    assert_eq!(store.get(&b).await.unwrap().bytes, heaps[1]);
    assert!(store.is_cached(&b) && !store.is_cached(&a));
}

#[tokio::test]
async fn restart_keeps_a_warm_cache_and_its_lru_order() {
    let moto = Moto::shared();
    let bucket = moto.bucket("restart").await;
    let cfg = moto.config(&bucket);
    let tmp = tempfile::tempdir().unwrap();
    let (ha, hb) = (snapshot(20, 100_000), snapshot(21, 100_000));
    let (a, b) = {
        let store = open(&cfg, tmp.path(), 1 << 30).await;
        let a = store.put(&ha, "fp").await.unwrap();
        let b = store.put(&hb, "fp").await.unwrap();
        // File mtimes carry recency across restarts; make sure they can differ.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        store.get(&a).await.unwrap();
        (a, b)
    };
    let warm = open(&cfg, tmp.path(), 1 << 30).await;
    assert_eq!(warm.stats().entries, 2);
    assert_eq!(warm.get(&a).await.unwrap().bytes, ha);
    assert_eq!(warm.stats().hits, 1);

    // Reopened with room for one, the least recently used (b) goes first.
    drop(warm);
    let small = open(&cfg, tmp.path(), stored_len(tmp.path(), &a) + 1).await;
    assert!(small.is_cached(&a) && !small.is_cached(&b));
    assert!(!tmp.path().join(b.as_str()).exists());
    assert_eq!(small.get(&b).await.unwrap().bytes, hb);
}

#[tokio::test]
async fn corrupt_cache_entry_is_evicted_and_refetched() {
    let moto = Moto::shared();
    let bucket = moto.bucket("cache-corrupt").await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&moto.config(&bucket), tmp.path(), 1 << 30).await;
    let bytes = snapshot(30, 100_000);
    let id = store.put(&bytes, "fp").await.unwrap();
    let path = tmp.path().join(id.as_str());
    let mut raw = std::fs::read(&path).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 0x40;
    std::fs::write(&path, &raw).unwrap();

    assert_eq!(store.get(&id).await.unwrap().bytes, bytes);
    let stats = store.stats();
    assert_eq!((stats.corrupt, stats.misses), (1, 1));
    // The refetched copy replaced the corrupt one.
    let heal = DirStore::open(tmp.path()).unwrap();
    assert_eq!(heal.get(&id).await.unwrap().bytes, bytes);
}

#[tokio::test]
async fn corrupt_s3_object_is_an_error_and_not_cached() {
    let moto = Moto::shared();
    let bucket = moto.bucket("s3-corrupt").await;
    let cfg = moto.config(&bucket);
    let writer_dir = tempfile::tempdir().unwrap();
    let writer = open(&cfg, writer_dir.path(), 1 << 30).await;
    let id = writer.put(&snapshot(31, 50_000), "fp").await.unwrap();
    let key = writer.remote().key(&id);
    moto.client()
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from_static(b"MV8H garbage"))
        .send()
        .await
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let reader = open(&cfg, tmp.path(), 1 << 30).await;
    match reader.get(&id).await {
        Err(e @ StoreError::Corrupt { .. }) => assert!(e.to_string().contains(id.as_str()), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(!reader.is_cached(&id) && !tmp.path().join(id.as_str()).exists());
}

#[tokio::test]
async fn warm_cache_serves_while_s3_is_down() {
    let mut moto = Moto::start();
    let bucket = moto.bucket("warm-down").await;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::Cached {
        s3: moto.config(&bucket),
        cache_dir: tmp.path().into(),
        max_bytes: 1 << 30,
    };
    let store = cfg.open().await.unwrap().expect("store");
    let bytes = snapshot(40, 100_000);
    let id = store.put(&bytes, "fp").await.unwrap();

    moto.stop();
    assert_eq!(
        store.get(&id).await.unwrap().bytes,
        bytes,
        "served from the cache"
    );
    assert!(store.exists(&id).await.unwrap());
    let put = store.put(&snapshot(41, 1000), "fp").await.unwrap_err();
    assert!(put.is_retryable(), "write-through needs S3: {put}");
    let miss = store.get(&HeapId::of(b"elsewhere")).await.unwrap_err();
    assert!(miss.is_retryable(), "{miss}");
    assert!(store.check_ready().await.unwrap_err().is_retryable());

    moto.resume();
    moto.create_bucket(&bucket).await;
    store.check_ready().await.unwrap();
    let id2 = store.put(&snapshot(41, 1000), "fp").await.unwrap();
    assert_eq!(store.get(&id2).await.unwrap().bytes, snapshot(41, 1000));
}

#[tokio::test]
async fn failed_cache_write_still_serves_the_get() {
    let moto = Moto::shared();
    let bucket = moto.bucket("cache-fail").await;
    let cfg = moto.config(&bucket);
    let writer = S3Store::connect(&cfg).await.unwrap();
    let bytes = snapshot(50, 20_000);
    let id = writer.put(&bytes, "fp").await.unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let cache_dir = tmp.path().join("cache");
    let store = open(&cfg, &cache_dir, 1 << 30).await;
    // The cache directory vanishing (volume gone) makes every cache write fail.
    std::fs::remove_dir_all(&cache_dir).unwrap();
    assert_eq!(store.get(&id).await.unwrap().bytes, bytes);
    assert!(!store.is_cached(&id));
}

#[tokio::test]
async fn heap_bigger_than_the_cache_is_not_cached() {
    let moto = Moto::shared();
    let bucket = moto.bucket("too-big").await;
    let tmp = tempfile::tempdir().unwrap();
    let store = open(&moto.config(&bucket), tmp.path(), 1024).await;
    let bytes = snapshot(60, 200_000);
    let id = store.put(&bytes, "fp").await.unwrap();
    assert!(!store.is_cached(&id) && store.remote().exists(&id).await.unwrap());
    assert_eq!(store.get(&id).await.unwrap().bytes, bytes);
    assert_eq!(store.stats().entries, 0);
}
