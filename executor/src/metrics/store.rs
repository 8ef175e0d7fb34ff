//! Heap store operations by backend, operation and result. The store crate stays free of
//! Prometheus: the executor wraps whatever `HeapStore` it opened in `Instrumented`, which
//! times every call and counts it under the backend's own `backend()` label and the
//! error's `metric_label()` — both already bounded by the store crate.

use std::sync::Arc;
use std::time::Instant;

use mcp_v8_store::{HeapId, HeapInfo, HeapStore, StoreError, StoredHeap};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

/// The store families; clones share the same series.
#[derive(Clone)]
pub struct StoreMetrics {
    pub(super) ops: IntCounterVec,
    pub(super) secs: HistogramVec,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreMetrics {
    pub fn new() -> Self {
        Self {
            ops: IntCounterVec::new(
                Opts::new(
                    "mcpv8_store_operations_total",
                    "Heap store operations by backend (dir|s3|cached), operation and result (ok or the error kind)",
                ),
                &["backend", "op", "result"],
            )
            .expect("static metric definition"),
            secs: HistogramVec::new(
                HistogramOpts::new(
                    "mcpv8_store_operation_duration_seconds",
                    "Heap store operation latency by backend and operation",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0,
                ]),
                &["backend", "op"],
            )
            .expect("static metric definition"),
        }
    }

    /// Wraps `store` so every operation is counted and timed.
    pub fn instrument(&self, store: Arc<dyn HeapStore>) -> Arc<dyn HeapStore> {
        Arc::new(Instrumented {
            inner: store,
            metrics: self.clone(),
        })
    }

    fn record<T>(&self, backend: &str, op: &str, started: Instant, r: &Result<T, StoreError>) {
        let result = match r {
            Ok(_) => "ok",
            Err(e) => e.metric_label(),
        };
        self.ops.with_label_values(&[backend, op, result]).inc();
        self.secs
            .with_label_values(&[backend, op])
            .observe(started.elapsed().as_secs_f64());
    }
}

struct Instrumented {
    inner: Arc<dyn HeapStore>,
    metrics: StoreMetrics,
}

impl Instrumented {
    fn done<T>(
        &self,
        op: &str,
        started: Instant,
        r: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.metrics.record(self.inner.backend(), op, started, &r);
        r
    }
}

#[async_trait::async_trait]
impl HeapStore for Instrumented {
    async fn put(&self, bytes: &[u8], fingerprint: &str) -> Result<HeapId, StoreError> {
        let t = Instant::now();
        let r = self.inner.put(bytes, fingerprint).await;
        self.done("put", t, r)
    }

    async fn get(&self, id: &HeapId) -> Result<StoredHeap, StoreError> {
        let t = Instant::now();
        let r = self.inner.get(id).await;
        self.done("get", t, r)
    }

    async fn exists(&self, id: &HeapId) -> Result<bool, StoreError> {
        let t = Instant::now();
        let r = self.inner.exists(id).await;
        self.done("exists", t, r)
    }

    async fn delete(&self, id: &HeapId) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.delete(id).await;
        self.done("delete", t, r)
    }

    async fn list(&self) -> Result<Vec<HeapId>, StoreError> {
        let t = Instant::now();
        let r = self.inner.list().await;
        self.done("list", t, r)
    }

    async fn stat(&self, id: &HeapId) -> Result<HeapInfo, StoreError> {
        let t = Instant::now();
        let r = self.inner.stat(id).await;
        self.done("stat", t, r)
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        let t = Instant::now();
        let r = self.inner.check_ready().await;
        self.done("check_ready", t, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_and_times_each_operation_by_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = mcp_v8_store::DirStore::open(dir.path().to_path_buf()).unwrap();
        let m = StoreMetrics::new();
        let s = m.instrument(Arc::new(store));
        let id = s.put(b"heap", "fp").await.unwrap();
        s.get(&id).await.unwrap();
        let missing: HeapId = "0".repeat(64).parse().unwrap();
        assert!(s.get(&missing).await.is_err());
        let ok = m.ops.with_label_values(&["dir", "get", "ok"]).get();
        let nf = m.ops.with_label_values(&["dir", "get", "not_found"]).get();
        assert_eq!((ok, nf), (1, 1));
        assert_eq!(
            m.secs.with_label_values(&["dir", "put"]).get_sample_count(),
            1
        );
    }
}
