//! The shared suite against the local redb backend, plus persistence across reopen.

use mcp_v8_cluster::{LocalStore, MetaStore};

use crate::suite;

#[tokio::test]
async fn local_store_passes_the_shared_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("db")).unwrap();
    suite::run_all(&store).await;
}

#[tokio::test]
async fn local_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LocalStore::open(dir.path()).unwrap();
        store
            .append_entry(suite::entry("s", None, 1, "one", None))
            .await
            .unwrap();
        store
            .set_tags(&suite::heap(1), suite::tags(&[("k", "v")]), None)
            .await
            .unwrap();
    }
    assert!(dir.path().join("meta.redb").exists());
    let store = LocalStore::open(dir.path()).unwrap();
    assert_eq!(
        store
            .append_entry(suite::entry("s", Some(1), 2, "two", None))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.list_entries("s", None).await.unwrap().len(), 2);
    assert_eq!(
        store
            .query_heaps(&suite::tags(&[("k", "v")]), None)
            .await
            .unwrap(),
        [suite::heap(1)]
    );
}
