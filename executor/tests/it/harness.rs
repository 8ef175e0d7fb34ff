//! Starts a pool of real worker processes with a directory heap store in a temp dir.

use std::sync::Arc;

use mcp_v8::config::EngineArgs;
use mcp_v8::pool::{Pool, PoolConfig, Status};
use mcp_v8::runner::{Finished, RunRequest, Runner};
use mcp_v8_store::{DirStore, HeapStore};

pub struct Harness {
    pub runner: Runner,
    pub store: Option<Arc<dyn HeapStore>>,
    _dir: tempfile::TempDir,
}

pub struct Options {
    pub stateful: bool,
    pub workers: u32,
    pub queue: u32,
    pub heap_mb: u32,
    pub timeout_s: u32,
    pub recycle_mb: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            stateful: true,
            workers: 1,
            queue: 16,
            heap_mb: 16,
            timeout_s: 10,
            recycle_mb: 512,
        }
    }
}

pub async fn start(o: Options) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Option<Arc<dyn HeapStore>> = if o.stateful {
        Some(Arc::new(DirStore::open(dir.path().join("heaps")).unwrap()))
    } else {
        None
    };
    let pool = Pool::start(PoolConfig {
        workers: o.workers as usize,
        queue_capacity: o.queue as usize,
        stateful: o.stateful,
        worker_exe: env!("CARGO_BIN_EXE_mcp-v8").into(),
        recycle_above_mb: o.recycle_mb,
        io: mcp_v8::io::IoConfig::default(),
        log_args: Vec::new(),
    })
    .await
    .expect("pool starts");
    let limits = EngineArgs {
        heap_memory_max: o.heap_mb,
        execution_timeout: o.timeout_s,
        max_concurrent_executions: Some(o.workers),
        max_queued_executions: o.queue,
        worker_recycle_mb: o.recycle_mb,
        max_output_bytes: 1 << 20,
        heap_memory_default: None,
        execution_timeout_default: None,
    };
    Harness {
        runner: Runner::new(pool, store.clone(), limits),
        store,
        _dir: dir,
    }
}

pub async fn stateful() -> Harness {
    start(Options::default()).await
}

pub async fn stateless() -> Harness {
    start(Options {
        stateful: false,
        ..Default::default()
    })
    .await
}

impl Harness {
    pub async fn run(&self, code: &str) -> Finished {
        self.runner
            .run(RunRequest {
                code: code.into(),
                ..Default::default()
            })
            .await
            .expect("run accepted")
    }

    pub async fn run_on(&self, heap: &str, code: &str) -> Finished {
        let req = RunRequest {
            code: code.into(),
            heap: Some(heap.into()),
            ..Default::default()
        };
        self.runner.run(req).await.expect("run accepted")
    }

    /// Runs and insists on completion, returning (result, heap).
    pub async fn ok(&self, code: &str) -> (String, Option<String>) {
        let f = self.run(code).await;
        assert_eq!(f.status, Status::Completed, "{code}: {f:?}");
        (f.result.unwrap_or_default(), f.heap)
    }

    pub async fn ok_on(&self, heap: &str, code: &str) -> (String, Option<String>) {
        let f = self.run_on(heap, code).await;
        assert_eq!(f.status, Status::Completed, "{code}: {f:?}");
        (f.result.unwrap_or_default(), f.heap)
    }

    /// The server still serves a trivial run at once.
    pub async fn still_serves(&self) {
        let (r, _) = self.ok("40 + 2").await;
        assert_eq!(r, "42");
    }
}
