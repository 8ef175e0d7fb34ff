//! Bad input to the runner: heap ids and limits.

use mcp_v8::runner::{RunError, RunRequest};
use mcp_v8_store::StoreError;

use crate::harness;

fn req(code: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_unknown_and_foreign_heaps_are_clear_errors() {
    let h = harness::stateful().await;
    for bad in ["../../etc/passwd", "ABC", &"A".repeat(64), ""] {
        let e = h
            .runner
            .submit(RunRequest {
                heap: Some(bad.into()),
                ..req("1")
            })
            .await
            .err()
            .unwrap();
        assert!(
            matches!(e, RunError::Store(StoreError::InvalidId { .. })),
            "{bad}: {e}"
        );
    }
    let unknown = "0".repeat(64);
    let e = h
        .runner
        .submit(RunRequest {
            heap: Some(unknown),
            ..req("1")
        })
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, RunError::Store(StoreError::NotFound { .. })),
        "{e}"
    );
    // A heap stored by another engine build is refused, never silently restarted.
    let store = h.store.as_ref().unwrap();
    let foreign = store
        .put(b"not this engine's snapshot", "v8-0.0.0/other")
        .await
        .unwrap();
    let e = h
        .runner
        .submit(RunRequest {
            heap: Some(foreign.to_string()),
            ..req("1")
        })
        .await
        .err()
        .unwrap();
    assert!(
        matches!(e, RunError::Store(StoreError::FingerprintMismatch { .. })),
        "{e}"
    );
    h.still_serves().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_above_the_server_maximum_name_the_range() {
    let h = harness::stateful().await;
    let e = h
        .runner
        .submit(RunRequest {
            heap_memory_max_mb: Some(64),
            ..req("1")
        })
        .await
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "heap_memory_max_mb must be between 4 and 16 on this server, got 64"
    );
    let e = h
        .runner
        .submit(RunRequest {
            execution_timeout_secs: Some(0),
            ..req("1")
        })
        .await
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "execution_timeout_secs must be between 1 and 10 on this server, got 0"
    );
    let ok = h
        .runner
        .run(RunRequest {
            heap_memory_max_mb: Some(4),
            execution_timeout_secs: Some(2),
            ..req("3")
        })
        .await;
    assert_eq!(ok.unwrap().result.as_deref(), Some("3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_heap_on_a_stateless_server_is_refused() {
    let h = harness::stateless().await;
    let e = h
        .runner
        .submit(RunRequest {
            heap: Some("0".repeat(64)),
            ..req("1")
        })
        .await
        .err()
        .unwrap();
    assert!(matches!(e, RunError::StatelessHeap), "{e}");
}
