//! The execution service every transport calls: starts runs (resolving a session's
//! latest heap), follows them into the registry, logs finished session runs in the
//! metadata store, and answers get/output/cancel/list — forwarding an id that another
//! cluster node ran to that node.

mod error;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_v8_cluster::{ExecForwarder, ExecRequest, MetaError, MetaStore, NewEntry, OutputQuery};
use serde_json::{Value, json};
use tracing::warn;

pub use error::ExecError;

use crate::pool::RunHandle;
use crate::registry::output::Window;
use crate::registry::record::{ExecStatus, Record};
use crate::registry::{Live, Registry, owner_raft_id, validate_id};
use crate::runner::{RunRequest, Runner};

/// Longest `wait_ms` a request may ask for.
pub const MAX_WAIT_MS: u64 = 30_000;
/// Most executions `list_executions` returns.
pub const MAX_LIST: usize = 1000;

/// A run as a transport received it.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub code: String,
    pub heap: Option<String>,
    pub session: Option<String>,
    pub heap_memory_max_mb: Option<u32>,
    pub execution_timeout_secs: Option<u32>,
    /// The authenticated principal, when authentication is on.
    pub owner: Option<String>,
}

pub struct Executions {
    runner: Runner,
    registry: Registry,
    meta: Arc<dyn MetaStore>,
    forwarder: Option<ExecForwarder>,
    /// Set on SIGTERM: readiness fails so no new traffic arrives while runs finish.
    draining: std::sync::atomic::AtomicBool,
    pub metrics: crate::metrics::Metrics,
}

impl Executions {
    pub fn new(
        runner: Runner,
        registry: Registry,
        meta: Arc<dyn MetaStore>,
        forwarder: Option<ExecForwarder>,
    ) -> Arc<Self> {
        Arc::new(Self {
            runner,
            registry,
            meta,
            forwarder,
            draining: std::sync::atomic::AtomicBool::new(false),
            metrics: crate::metrics::Metrics::new(),
        })
    }

    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.meta
    }

    /// Validates and queues a run; its record exists from now on.
    pub async fn start(self: &Arc<Self>, spec: RunSpec) -> Result<Started, ExecError> {
        let started = self.start_run(spec).await;
        if let Err(e) = &started {
            self.metrics.refused(e.metric_label());
        }
        started
    }

    async fn start_run(self: &Arc<Self>, spec: RunSpec) -> Result<Started, ExecError> {
        if let Some(session) = &spec.session {
            mcp_v8_cluster::model::validate_name("session", session)?;
            if !self.runner.is_stateful() {
                return Err(ExecError::InvalidArgument(
                    "this server is stateless (--stateless): sessions need stored heaps".into(),
                ));
            }
        }
        let input_heap = match (&spec.heap, &spec.session) {
            (Some(h), _) => Some(h.clone()),
            (None, Some(session)) => self
                .meta
                .last_entry(session, spec.owner.as_deref())
                .await?
                .map(|e| e.output_heap),
            (None, None) => None,
        };
        let log_code = spec.session.as_ref().map(|_| spec.code.clone());
        let handle = self
            .runner
            .submit(RunRequest {
                code: spec.code,
                heap: input_heap.clone(),
                heap_memory_max_mb: spec.heap_memory_max_mb,
                execution_timeout_secs: spec.execution_timeout_secs,
            })
            .await?;
        let (id, live) = self
            .registry
            .insert(spec.session.clone(), spec.owner.clone());
        self.registry.attach(&live, handle.canceller());
        // Subscribed before the run is followed, so no console line is missed.
        let (lines, _) = live.subscribe();
        let this = self.clone();
        let follow = Follow {
            accepted: std::time::Instant::now(),
            id: id.clone(),
            live: live.clone(),
            session: spec.session.zip(log_code),
            input_heap,
            owner: spec.owner,
        };
        tokio::spawn(async move { this.follow(handle, follow).await });
        Ok(Started { id, live, lines })
    }

    async fn follow(&self, mut handle: RunHandle, f: Follow) {
        let outcome = loop {
            tokio::select! {
                Some(line) = handle.console.recv() => {
                    self.registry.console(&f.id, &f.live, &line.text);
                }
                outcome = &mut handle.outcome => break outcome,
            }
        };
        while let Ok(line) = handle.console.try_recv() {
            self.registry.console(&f.id, &f.live, &line.text);
        }
        let outcome = outcome.unwrap_or_else(|_| {
            crate::pool::RunOutcome::status(
                crate::pool::Status::Failed,
                "the worker pool shut down",
            )
        });
        self.metrics.run_timings(&outcome);
        let mut finished = self.runner.finish(outcome).await;
        if let (Some((session, code)), Some(heap)) = (&f.session, &finished.heap) {
            let entry = NewEntry {
                session: session.clone(),
                input_heap: f.input_heap.clone(),
                output_heap: heap.clone(),
                code: code.clone(),
                owner: f.owner.clone(),
            };
            if let Err(e) = self.meta.append_entry(entry).await {
                warn!(execution_id = %f.id, error = %e, "session log append failed");
                finished.error = Some(format!(
                    "the heap was saved but session {session:?} could not log it: {e}"
                ));
            }
        }
        self.metrics.finished(
            finished.status.as_str(),
            self.runner.is_stateful(),
            f.accepted.elapsed(),
        );
        let mut record = f.live.record();
        record.status = ExecStatus::from(finished.status);
        record.result = finished.result;
        record.error = finished.error;
        record.heap = finished.heap;
        self.registry.finish(&f.id, &f.live, record).await;
    }

    /// Waits up to `wait` for a live run to end; returns its record as of then.
    pub async fn wait(live: &Live, wait: Duration) -> Record {
        let (_, mut done) = live.subscribe();
        let _ = tokio::time::timeout(wait, async { done.wait_for(|d| *d).await.is_ok() }).await;
        live.record()
    }

    /// The record of any execution of the cluster.
    pub async fn get(&self, id: &str, owner: Option<&str>) -> Result<Value, ExecError> {
        validate_id(id).map_err(ExecError::InvalidArgument)?;
        let req = ExecRequest::Get {
            execution_id: id.into(),
        };
        self.record_or_forward(id, owner, req).await
    }

    /// The local record of `id`, or else `req` answered by the node that ran it.
    async fn record_or_forward(
        &self,
        id: &str,
        owner: Option<&str>,
        req: ExecRequest,
    ) -> Result<Value, ExecError> {
        match self.registry.get(id).await? {
            Some((record, o)) if o.as_deref() == owner => Ok(json!(record)),
            Some(_) => Err(not_found(id)),
            None => self.forward(id, req).await,
        }
    }

    /// A window of an execution's console output.
    pub async fn output(
        &self,
        id: &str,
        query: &OutputQuery,
        owner: Option<&str>,
    ) -> Result<Value, ExecError> {
        validate_id(id).map_err(ExecError::InvalidArgument)?;
        let window = Window::from_query(query).map_err(ExecError::InvalidArgument)?;
        match self.registry.get(id).await? {
            Some((_, o)) if o.as_deref() != owner => Err(not_found(id)),
            Some(_) => match self.registry.output(id, window).await? {
                Some(page) => Ok(json!(page)),
                None => Err(not_found(id)),
            },
            None => {
                let req = ExecRequest::Output {
                    execution_id: id.into(),
                    query: query.clone(),
                };
                self.forward(id, req).await
            }
        }
    }

    /// Cancels a queued or running execution (a finished one is left as it is) and
    /// returns its record, waiting briefly for a running one to stop.
    pub async fn cancel(&self, id: &str, owner: Option<&str>) -> Result<Value, ExecError> {
        validate_id(id).map_err(ExecError::InvalidArgument)?;
        if let Some(live) = self.registry.live(id) {
            if live.owner() != owner {
                return Err(not_found(id));
            }
            live.cancel();
            return Ok(json!(Self::wait(&live, Duration::from_secs(3)).await));
        }
        let req = ExecRequest::Cancel {
            execution_id: id.into(),
        };
        self.record_or_forward(id, owner, req).await
    }

    /// This node's newest executions.
    pub async fn list(
        &self,
        status: Option<&str>,
        limit: Option<u64>,
        owner: Option<&str>,
    ) -> Result<Vec<Record>, ExecError> {
        let status = status
            .map(ExecStatus::parse)
            .transpose()
            .map_err(ExecError::InvalidArgument)?;
        let limit = match limit {
            None => 50,
            Some(n) if (1..=MAX_LIST as u64).contains(&n) => n as usize,
            Some(n) => {
                return Err(ExecError::InvalidArgument(format!(
                    "limit must be between 1 and {MAX_LIST}, got {n}"
                )));
            }
        };
        Ok(self.registry.list(status, limit, owner).await?)
    }

    async fn forward(&self, id: &str, req: ExecRequest) -> Result<Value, ExecError> {
        let Some(forwarder) = &self.forwarder else {
            return Err(not_found(id));
        };
        match owner_raft_id(id) {
            Some(owner) if owner != self.registry.raft_id() && owner != 0 => {
                forwarder.forward(owner, &req).await.map_err(|e| match e {
                    MetaError::NotFound(_) => not_found(id),
                    e => ExecError::Meta(e),
                })
            }
            _ => Err(not_found(id)),
        }
    }
}

/// A run just queued, with its console lines from the first one on.
pub struct Started {
    pub id: String,
    pub live: Arc<Live>,
    pub lines: tokio::sync::broadcast::Receiver<String>,
}

struct Follow {
    accepted: std::time::Instant,
    id: String,
    live: Arc<Live>,
    /// The session and the code to log when the run leaves a heap.
    session: Option<(String, String)>,
    input_heap: Option<String>,
    owner: Option<String>,
}

fn not_found(id: &str) -> ExecError {
    ExecError::NotFound(format!(
        "execution {id} not found: it never existed here, or it finished long enough ago to be pruned"
    ))
}

/// Serves other nodes' forwarded queries from this node's registry only.
pub struct LocalHost(pub Arc<Executions>);

#[async_trait]
impl mcp_v8_cluster::ExecutionHost for LocalHost {
    async fn get_execution(&self, id: &str) -> Result<Value, MetaError> {
        match self.0.registry.get(id).await {
            Ok(Some((record, _))) => Ok(json!(record)),
            Ok(None) => Err(MetaError::NotFound(format!("execution {id}"))),
            Err(e) => Err(MetaError::Storage(e.to_string())),
        }
    }

    async fn get_execution_output(&self, id: &str, q: &OutputQuery) -> Result<Value, MetaError> {
        let window = Window::from_query(q).map_err(MetaError::InvalidInput)?;
        match self.0.registry.output(id, window).await {
            Ok(Some(page)) => Ok(json!(page)),
            Ok(None) => Err(MetaError::NotFound(format!("execution {id}"))),
            Err(e) => Err(MetaError::Storage(e.to_string())),
        }
    }

    async fn cancel_execution(&self, id: &str) -> Result<Value, MetaError> {
        if let Some(live) = self.0.registry.live(id) {
            live.cancel();
            return Ok(json!(Executions::wait(&live, Duration::from_secs(3)).await));
        }
        self.get_execution(id).await
    }
}
