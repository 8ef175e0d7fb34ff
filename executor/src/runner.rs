//! Runs as the server offers them: checks per-request limits against the server's
//! maxima, loads the input heap from the heap store (with the engine fingerprint),
//! queues the run on the pool, and stores the new heap it produces.

use std::sync::Arc;

use mcp_v8_store::{HeapId, HeapStore, StoreError, get_matching};
use serde::Serialize;

use crate::config::EngineArgs;
use crate::ipc::RunLimits;
use crate::pool::{Pool, PoolError, RunHandle, RunOutcome, Status};

/// Range a request's `heap_memory_max_mb` may take (before the server's maximum).
pub const REQUEST_HEAP_MB: (u32, u32) = (4, 64);
/// Range a request's `execution_timeout_secs` may take (before the server's maximum).
pub const REQUEST_TIMEOUT_SECS: (u32, u32) = (1, 300);

/// A run as a client asks for it.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub code: String,
    pub heap: Option<String>,
    pub heap_memory_max_mb: Option<u32>,
    pub execution_timeout_secs: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("this server is stateless (--stateless): it keeps no heaps, so `heap` cannot be used")]
    StatelessHeap,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pool(#[from] PoolError),
}

impl RunError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            RunError::InvalidArgument(_) | RunError::StatelessHeap => "invalid_argument",
            RunError::Store(e) => e.metric_label(),
            RunError::Pool(e) => e.metric_label(),
        }
    }
}

/// The end of a run: the interface contract's record fields the engine decides.
#[derive(Debug, Clone, Serialize)]
pub struct Finished {
    pub status: Status,
    pub result: Option<String>,
    pub error: Option<String>,
    pub heap: Option<String>,
}

pub struct Runner {
    pool: Pool,
    store: Option<Arc<dyn HeapStore>>,
    limits: EngineArgs,
}

impl Runner {
    pub fn new(pool: Pool, store: Option<Arc<dyn HeapStore>>, limits: EngineArgs) -> Self {
        Self {
            pool,
            store,
            limits,
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn store(&self) -> Option<&Arc<dyn HeapStore>> {
        self.store.as_ref()
    }

    pub fn is_stateful(&self) -> bool {
        self.store.is_some()
    }

    /// Validates, loads the heap and queues the run.
    pub async fn submit(&self, req: RunRequest) -> Result<RunHandle, RunError> {
        let limits = self.limits_for(&req)?;
        let heap = match (&req.heap, &self.store) {
            (None, _) => None,
            (Some(_), None) => return Err(RunError::StatelessHeap),
            (Some(id), Some(store)) => {
                let id: HeapId = id.parse()?;
                Some(
                    get_matching(store.as_ref(), &id, self.pool.fingerprint())
                        .await?
                        .bytes,
                )
            }
        };
        Ok(self.pool.submit(req.code, heap, limits)?)
    }

    /// Turns a pool outcome into the record fields, storing the new heap.
    pub async fn finish(&self, outcome: RunOutcome) -> Finished {
        let mut finished = Finished {
            status: outcome.status,
            result: outcome.result,
            error: outcome.error,
            heap: None,
        };
        match (outcome.snapshot, &self.store) {
            (Some(bytes), Some(store)) => match store.put(&bytes, self.pool.fingerprint()).await {
                Ok(id) => finished.heap = Some(id.to_string()),
                Err(e) => {
                    finished.error = Some(format!(
                        "the run completed but its heap could not be saved: {e}"
                    ));
                }
            },
            _ => {
                if let Some(e) = outcome.snapshot_error {
                    finished.error = Some(e);
                }
            }
        }
        finished
    }

    /// Submits and waits, dropping console output.
    pub async fn run(&self, req: RunRequest) -> Result<Finished, RunError> {
        let handle = self.submit(req).await?;
        Ok(self.finish(handle.wait().await).await)
    }

    fn limits_for(&self, req: &RunRequest) -> Result<RunLimits, RunError> {
        let heap_mb = check(
            "heap_memory_max_mb",
            req.heap_memory_max_mb,
            REQUEST_HEAP_MB.0,
            REQUEST_HEAP_MB
                .1
                .min(self.limits.heap_memory_max.max(REQUEST_HEAP_MB.0)),
            self.limits.default_heap_mb(),
        )?;
        let timeout = check(
            "execution_timeout_secs",
            req.execution_timeout_secs,
            REQUEST_TIMEOUT_SECS.0,
            REQUEST_TIMEOUT_SECS.1.min(self.limits.execution_timeout),
            self.limits.default_timeout_secs(),
        )?;
        Ok(RunLimits {
            heap_bytes: (heap_mb as usize) << 20,
            timeout_ms: u64::from(timeout) * 1000,
            max_output_bytes: self.limits.max_output_bytes,
        })
    }
}

/// A per-request limit: absent → the server's value; outside `lo..=hi` → an error
/// naming the allowed range (never silently clamped).
fn check(name: &str, value: Option<u32>, lo: u32, hi: u32, default: u32) -> Result<u32, RunError> {
    match value {
        None => Ok(default),
        Some(v) if (lo..=hi).contains(&v) => Ok(v),
        Some(v) => Err(RunError::InvalidArgument(format!(
            "{name} must be between {lo} and {hi} on this server, got {v}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_name_it() {
        let e = check("heap_memory_max_mb", Some(65), 4, 64, 8)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "heap_memory_max_mb must be between 4 and 64 on this server, got 65"
        );
        assert_eq!(check("x", None, 1, 5, 3).unwrap(), 3);
        assert_eq!(check("x", Some(5), 1, 5, 3).unwrap(), 5);
    }
}
