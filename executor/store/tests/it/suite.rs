//! The behaviour every `HeapStore` backend must share, run against dir, s3 and cached.

use std::sync::Arc;

use mcp_v8_store::{HeapId, HeapStore, StoreError, get_matching};

pub use crate::data::snapshot;

pub async fn run_all(store: Arc<dyn HeapStore>, seed: u32) {
    round_trip_and_stat(&*store, seed).await;
    dedup_keeps_first_fingerprint(&*store, seed + 1).await;
    missing_is_not_found(&*store).await;
    fingerprint_mismatch(&*store, seed + 2).await;
    delete_and_list(&*store, seed + 3).await;
    concurrent_puts_of_one_id(store.clone(), seed + 4).await;
    store.check_ready().await.expect("ready");
}

async fn round_trip_and_stat(store: &dyn HeapStore, seed: u32) {
    let bytes = snapshot(seed, 300_000);
    let id = store.put(&bytes, "fp-a").await.unwrap();
    assert_eq!(id, HeapId::of(&bytes));
    assert!(store.exists(&id).await.unwrap());
    let got = store.get(&id).await.unwrap();
    assert_eq!(got.bytes, bytes);
    assert_eq!(got.fingerprint, "fp-a");
    let info = store.stat(&id).await.unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.size, bytes.len() as u64);
    assert!(
        info.stored_size > 0 && info.stored_size < info.size,
        "{info:?}"
    );
    assert_eq!(info.compression, "zstd");
    assert_eq!(info.fingerprint, "fp-a");
}

async fn dedup_keeps_first_fingerprint(store: &dyn HeapStore, seed: u32) {
    let bytes = snapshot(seed, 10_000);
    let a = store.put(&bytes, "first").await.unwrap();
    let b = store.put(&bytes, "second").await.unwrap();
    assert_eq!(a, b);
    // Objects are immutable: the second put was skipped, so the first fingerprint stays.
    assert_eq!(store.get(&a).await.unwrap().fingerprint, "first");
}

async fn missing_is_not_found(store: &dyn HeapStore) {
    let id = HeapId::of(b"never stored");
    assert!(!store.exists(&id).await.unwrap());
    match store.get(&id).await {
        Err(StoreError::NotFound { id: missing }) => assert_eq!(missing, id),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        store.stat(&id).await,
        Err(StoreError::NotFound { .. })
    ));
    // Deleting what is not there is fine (retention may race).
    store.delete(&id).await.unwrap();
}

async fn fingerprint_mismatch(store: &dyn HeapStore, seed: u32) {
    let bytes = snapshot(seed, 1_000);
    let id = store.put(&bytes, "engine-1").await.unwrap();
    assert_eq!(
        get_matching(store, &id, "engine-1").await.unwrap().bytes,
        bytes
    );
    match get_matching(store, &id, "engine-2").await {
        Err(e @ StoreError::FingerprintMismatch { .. }) => {
            assert_eq!(e.metric_label(), "fingerprint_mismatch");
            let msg = e.to_string();
            assert!(
                msg.contains("engine-1") && msg.contains("engine-2") && msg.contains(id.as_str()),
                "{msg}"
            );
        }
        other => panic!("expected FingerprintMismatch, got {other:?}"),
    }
}

async fn delete_and_list(store: &dyn HeapStore, seed: u32) {
    let a = store.put(&snapshot(seed, 2_000), "fp").await.unwrap();
    let b = store
        .put(&snapshot(seed + 1000, 2_000), "fp")
        .await
        .unwrap();
    let listed = store.list().await.unwrap();
    assert!(listed.contains(&a) && listed.contains(&b), "{listed:?}");
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "list is sorted and unique"
    );
    store.delete(&a).await.unwrap();
    assert!(!store.exists(&a).await.unwrap());
    assert!(matches!(
        store.get(&a).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(!store.list().await.unwrap().contains(&a));
    assert!(store.exists(&b).await.unwrap());
}

async fn concurrent_puts_of_one_id(store: Arc<dyn HeapStore>, seed: u32) {
    let bytes = Arc::new(snapshot(seed, 200_000));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, bytes) = (store.clone(), bytes.clone());
            tokio::spawn(async move { store.put(&bytes, "fp").await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
    assert_eq!(store.get(&ids[0]).await.unwrap().bytes, *bytes);
}
