//! S3 backend against a real moto server: the shared suite, key layout, corruption,
//! startup checks (missing bucket, bad credentials) and S3 going down and coming back.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use mcp_v8_store::{HeapId, HeapStore, S3Store, StoreConfig, StoreError};

use crate::suite::{self, snapshot};
use mcp_v8_store::testing::Moto;

#[tokio::test]
async fn s3_store_passes_the_shared_suite() {
    let moto = Moto::shared();
    let bucket = moto.bucket("suite").await;
    let store = S3Store::connect(&moto.config(&bucket)).await.unwrap();
    assert_eq!(store.backend(), "s3");
    suite::run_all(Arc::new(store), 200).await;
}

#[tokio::test]
async fn keys_are_prefix_slash_id() {
    let moto = Moto::shared();
    let bucket = moto.bucket("keys").await;
    let mut cfg = moto.config(&bucket);
    cfg.prefix = "team-a/heaps".into();
    let store = S3Store::connect(&cfg).await.unwrap();
    let id = store.put(b"hello heap", "fp").await.unwrap();
    // A foreign object under the prefix is ignored by list.
    moto.client()
        .put_object()
        .bucket(&bucket)
        .key("team-a/heaps/notes.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let listed = moto
        .client()
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("team-a/heaps/{id}").as_str(),
            "team-a/heaps/notes.txt"
        ]
    );
    assert_eq!(store.list().await.unwrap(), vec![id]);
}

#[tokio::test]
async fn corrupt_s3_object_is_a_clear_error() {
    let moto = Moto::shared();
    let bucket = moto.bucket("corrupt").await;
    let store = S3Store::connect(&moto.config(&bucket)).await.unwrap();
    let bytes = snapshot(7, 100_000);
    let id = store.put(&bytes, "fp").await.unwrap();
    let key = store.key(&id);
    let client = moto.client();
    let mut raw = client
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .to_vec();
    let last = raw.len() - 1;
    raw[last] ^= 0xff;
    client
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(ByteStream::from(raw))
        .send()
        .await
        .unwrap();
    match store.get(&id).await {
        Err(e @ StoreError::Corrupt { .. }) => {
            assert!(e.to_string().contains(id.as_str()), "{e}");
            assert_eq!(e.metric_label(), "corrupt");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_bucket_is_reported_at_startup() {
    let moto = Moto::shared();
    let cfg = moto.config("no-such-bucket-here");
    let store = S3Store::connect(&cfg).await.unwrap();
    match store.check_ready().await {
        Err(e @ StoreError::BucketMissing { .. }) => {
            assert!(e.to_string().contains("no-such-bucket-here"), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("expected BucketMissing, got {other:?}"),
    }
    let err = StoreConfig::S3 { s3: cfg }
        .open()
        .await
        .err()
        .expect("open must fail");
    assert_eq!(err.metric_label(), "bucket_missing");
}

#[tokio::test]
async fn bad_credentials_are_reported_at_startup() {
    // With auth enforced from the first request, moto knows no access key at all, so
    // ours is rejected the way AWS rejects an unknown key.
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let cfg = moto.config("any-bucket");
    let store = S3Store::connect(&cfg).await.unwrap();
    match store.check_ready().await {
        Err(e @ StoreError::AccessDenied { .. }) => {
            assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
            assert!(!e.is_retryable());
        }
        other => panic!("expected AccessDenied, got {other:?}"),
    }
    let err = StoreConfig::S3 { s3: cfg }
        .open()
        .await
        .err()
        .expect("open must fail");
    assert_eq!(err.metric_label(), "access_denied");
}

#[tokio::test]
async fn s3_down_is_retryable_and_recovers_without_restart() {
    let mut moto = Moto::start();
    let bucket = moto.bucket("down").await;
    let cfg = moto.config(&bucket);
    let store = S3Store::connect(&cfg).await.unwrap();
    let id = store.put(&snapshot(1, 10_000), "fp").await.unwrap();

    moto.stop();
    for err in [
        store.get(&id).await.err(),
        store.put(&snapshot(2, 10_000), "fp").await.err(),
        store.exists(&id).await.err(),
        store.check_ready().await.err(),
    ] {
        let err = err.expect("S3 is down");
        assert!(err.is_retryable(), "{err}");
        assert_eq!(err.metric_label(), "unavailable");
    }
    // Unreachable at startup is not fatal: the store opens and reports not ready.
    let opened = StoreConfig::S3 { s3: cfg.clone() }
        .open()
        .await
        .unwrap()
        .expect("store");
    assert!(opened.check_ready().await.unwrap_err().is_retryable());

    // moto keeps everything in memory, so the restarted server starts empty.
    moto.resume();
    moto.create_bucket(&bucket).await;
    store.check_ready().await.unwrap();
    opened.check_ready().await.unwrap();
    let again = store.put(&snapshot(2, 10_000), "fp").await.unwrap();
    assert_eq!(opened.get(&again).await.unwrap().bytes, snapshot(2, 10_000));
}

#[tokio::test]
async fn two_instances_share_a_bucket_and_race_on_one_id() {
    let moto = Moto::shared();
    let bucket = moto.bucket("shared").await;
    let a: Arc<dyn HeapStore> = Arc::new(S3Store::connect(&moto.config(&bucket)).await.unwrap());
    let b: Arc<dyn HeapStore> = Arc::new(S3Store::connect(&moto.config(&bucket)).await.unwrap());
    let bytes = Arc::new(snapshot(42, 1_000_000));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let bytes = bytes.clone();
        tasks.push(tokio::spawn(async move { store.put(&bytes, "fp").await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    let id = HeapId::of(&bytes);
    assert!(ids.iter().all(|i| *i == id));
    assert_eq!(a.get(&id).await.unwrap().bytes, *bytes);
    assert_eq!(b.get(&id).await.unwrap().bytes, *bytes);
    assert_eq!(a.list().await.unwrap(), vec![id.clone()]);
    // A heap written by one instance is readable by the other (sessions move freely).
    let next = a.put(&snapshot(43, 1000), "fp").await.unwrap();
    assert!(b.exists(&next).await.unwrap());
}
