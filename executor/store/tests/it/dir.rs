//! Directory backend: the shared suite plus on-disk behaviour (layout, atomicity,
//! corruption).

use std::sync::Arc;

use mcp_v8_store::{DirStore, HeapId, HeapStore, StoreConfig, StoreError};

use crate::suite::{self, snapshot};

#[tokio::test]
async fn dir_store_passes_the_shared_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path().join("a/b/heaps")).unwrap();
    assert!(
        tmp.path().join("a/b/heaps").is_dir(),
        "open creates missing directories"
    );
    assert_eq!(store.backend(), "dir");
    suite::run_all(Arc::new(store), 100).await;
}

#[tokio::test]
async fn objects_are_files_named_by_id_with_no_temp_left() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    let mut ids = Vec::new();
    for seed in 0..5 {
        ids.push(store.put(&snapshot(seed, 50_000), "fp").await.unwrap());
    }
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected);
    // Stored compressed: each file is smaller than its snapshot.
    for id in &ids {
        assert!(
            std::fs::metadata(tmp.path().join(id.as_str()))
                .unwrap()
                .len()
                < 50_000
        );
    }
}

#[tokio::test]
async fn corrupt_files_are_refused_naming_the_id() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    let id = store.put(&snapshot(1, 100_000), "fp").await.unwrap();
    let path = tmp.path().join(id.as_str());
    let good = std::fs::read(&path).unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();
    match store.get(&id).await {
        Err(e @ StoreError::Corrupt { .. }) => {
            assert!(e.to_string().contains(id.as_str()), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }

    std::fs::write(&path, &good[..good.len() - 10]).unwrap();
    assert!(matches!(
        store.get(&id).await,
        Err(StoreError::Corrupt { .. })
    ));

    // A valid object under the wrong name is corrupt too: the id is the content hash.
    let other = store.put(&snapshot(2, 1000), "fp").await.unwrap();
    std::fs::copy(tmp.path().join(other.as_str()), &path).unwrap();
    assert!(matches!(
        store.get(&id).await,
        Err(StoreError::Corrupt { .. })
    ));
    // A re-put does not repair a corrupt object silently (the id exists), but a delete
    // followed by a put does.
    store.delete(&id).await.unwrap();
    store.put(&snapshot(1, 100_000), "fp").await.unwrap();
    assert_eq!(store.get(&id).await.unwrap().bytes, snapshot(1, 100_000));
}

#[tokio::test]
async fn foreign_files_are_not_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    let id = store.put(b"x", "fp").await.unwrap();
    std::fs::write(tmp.path().join("README"), "hi").unwrap();
    std::fs::write(tmp.path().join(id.as_str().to_uppercase()), "hi").unwrap();
    std::fs::create_dir(tmp.path().join(HeapId::of(b"dir").as_str())).unwrap();
    assert_eq!(store.list().await.unwrap(), vec![id]);
}

#[tokio::test]
async fn config_opens_dir_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = StoreConfig::Dir {
        path: tmp.path().join("h"),
    };
    let store = cfg.open().await.unwrap().expect("a store");
    assert_eq!(store.backend(), "dir");
    let id = store.put(b"abc", "fp").await.unwrap();
    assert!(tmp.path().join("h").join(id.as_str()).is_file());
    assert!(StoreConfig::Stateless.open().await.unwrap().is_none());
}

#[tokio::test]
async fn unusable_directory_is_an_io_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = DirStore::open(file.join("sub")).unwrap_err();
    assert_eq!(err.metric_label(), "io");
    assert!(err.to_string().contains("sub"), "{err}");
}
